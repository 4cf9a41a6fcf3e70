/** The bridge over TLS (CA file, credentials) and over WebSocket, against real brokers. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { connect } from "../helpers.ts";
import { CA_FILE, TestBroker } from "./broker.ts";
import { type Comet, startComet, waitFor, waitReadyz } from "./util.ts";

let tls: TestBroker;
let ws: TestBroker;
const servers: Comet[] = [];
const user = { username: "comet", password: "tls-pw" };

beforeAll(async () => {
  [tls, ws] = await Promise.all([
    TestBroker.start({ tls: true, anonymous: false, users: { [user.username]: user.password } }),
    TestBroker.start({ ws: true }),
  ]);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all([tls?.stop(), ws?.stop()]);
});

async function start(yaml: string): Promise<Comet> {
  const s = await startComet(yaml);
  servers.push(s);
  return s;
}

test("mqtts:// with mqtt.tls.ca_file and a user name and password: connected, events flow", async () => {
  const s = await start(
    `mqtt: {url: "${tls.url}", username: ${user.username}, password: ${user.password}, tls: {ca_file: "${CA_FILE}"}}`,
  );
  await waitReadyz(s, 200);
  const c = await connect(s, "tess");
  await sendEvent(tls.url, "comet/events", { uid: "tess", evt: "over tls" }, { ...user, ca: tls.ca() });
  expect(await c.waitPushes(1)).toEqual(["over tls"]);
  c.close();
});

test("a user name and password in the URL work too, and never show on /readyz", async () => {
  const at = tls.url.replace("mqtts://", `mqtts://${user.username}:${user.password}@`);
  const s = await start(`mqtt: {url: "${at}", tls: {ca_file: "${CA_FILE}"}}`);
  await waitReadyz(s, 200);
  const c = await connect(s, "uri");
  await sendEvent(at, "comet/events", { uid: "uri", evt: "credentials in the URL" }, { ca: tls.ca() });
  expect(await c.waitPushes(1)).toEqual(["credentials in the URL"]);
  c.close();
  const wrong = await start(`mqtt: {url: "${at.replace(user.password, "wrong-pw")}", tls: {ca_file: "${CA_FILE}"}}`);
  const reason = (await waitReadyz(wrong, 503)).reason ?? "";
  expect(reason).toContain(`mqtts://${user.username}:***@127.0.0.1:${tls.port}`);
  expect(reason).not.toContain("wrong-pw");
});

test("mqtts:// to a broker whose certificate no configured CA vouches for: 503 names the certificate problem", async () => {
  const s = await start(`mqtt: {url: "${tls.url}", username: ${user.username}, password: ${user.password}}`);
  await waitFor(async () => /certificate/i.test((await waitReadyz(s, 503)).reason ?? ""), "a certificate error");
});

test("a wrong password: 503 says the broker refused", async () => {
  const s = await start(
    `mqtt: {url: "${tls.url}", username: ${user.username}, password: wrong, tls: {ca_file: "${CA_FILE}"}}`,
  );
  await waitFor(async () => /not authori[sz]ed/i.test((await waitReadyz(s, 503)).reason ?? ""), "the refusal");
});

test("ws:// reaches a broker over WebSocket", async () => {
  const s = await start(`mqtt: {url: "${ws.url}"}`);
  await waitReadyz(s, 200);
  const c = await connect(s, "wes");
  await sendEvent(ws.url, "comet/events", { uid: "wes", evt: "over websocket" });
  expect(await c.waitPushes(1)).toEqual(["over websocket"]);
  c.close();
});
