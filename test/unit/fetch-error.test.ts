import { expect, test } from "bun:test";
import { fetchErrorCode } from "../../src/runtime/fetch-error.ts";

/** A fetch failure as Deno 2 throws it: the reason only in the message of the cause. */
const denoError = (cause: string) => Object.assign(new TypeError("fetch failed"), { cause: new Error(cause) });

test("reads the code Bun puts on a fetch error", () => {
  expect(fetchErrorCode(Object.assign(new TypeError("Unable to connect"), { code: "ECONNREFUSED" }))).toBe(
    "ECONNREFUSED",
  );
});

test("reads Deno's reason from the cause's message", () => {
  expect(
    fetchErrorCode(
      denoError(
        "error sending request for url (http://127.0.0.1:1/): client error (Connect): tcp connect error: Connection refused (os error 111)",
      ),
    ),
  ).toBe("ECONNREFUSED");
  expect(
    fetchErrorCode(
      denoError(
        "error sending request for url (http://x.invalid/): client error (Connect): dns error: failed to lookup address information: Name or service not known",
      ),
    ),
  ).toBe("ENOTFOUND");
  expect(
    fetchErrorCode(
      denoError("error sending request: client error (SendRequest): connection closed before message completed"),
    ),
  ).toBe("ECONNRESET");
});

test("anything else has no code, so the message is shown as it is", () => {
  expect(fetchErrorCode(denoError("something new"))).toBeUndefined();
  expect(fetchErrorCode(new Error("plain"))).toBeUndefined();
  expect(fetchErrorCode(null)).toBeUndefined();
});
