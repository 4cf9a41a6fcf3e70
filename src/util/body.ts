/** Reads a request body up to a limit without buffering more than the limit. */
export class BodyTooLarge extends Error {}

const DIGITS = /^\d+$/;

export function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && DIGITS.test(declared)) {
    if (Number(declared) > limit) return Promise.reject(new BodyTooLarge());
    // A declared length within the limit: the runtime reads exactly that many bytes in one piece.
    // (Going through the ReadableStream reader costs several times the CPU of the whole request.)
    // Its own promise, not one wrapped by an async function: a Publish waits one turn, not two.
    return req.bytes();
  }
  return readStreamed(req, limit);
}

/** No usable Content-Length (a chunked body): stream it, and stop at the limit. */
async function readStreamed(req: Request, limit: number): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
