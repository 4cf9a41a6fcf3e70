/**
 * The client SDK and close code 4410, an operator's Disconnect (PROTOCOL.md Part 3): it reports
 * the code and the operator's reason in its `close` event and does not reconnect, over a WebSocket
 * and over SSE (whose server sends `event: close` before it ends the stream). Against scripted
 * peers: a test says what the server sends, and counts the connections that come.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { waitFor } from "../helpers.ts";
import { client, closeClients } from "./recorded.ts";
import { silentServer, sseServer } from "./servers.ts";

afterEach(closeClients);

const REASON = "disconnected by an operator: spamming the lobby";
/** recorded.ts's clients back off at most 100 ms: a retry would long have come by then. */
const WELL_PAST_BACKOFF_MS = 600;

describe("CometClient and an operator's Disconnect (4410), against a scripted peer", () => {
  test("a WebSocket closed 4410: the close reports the code and reason, and no reconnect follows until connect()", async () => {
    const peer = silentServer();
    try {
      const { c, log } = client({ url: peer.url, token: "tok", rid: "lobby" });
      await c.connect();
      await waitFor(() => peer.uplinks[0]?.length === 1, "AUTH");
      peer.sockets[0]?.close(4410, REASON);
      await waitFor(() => c.state === "closed", "the client to stop");
      expect(log.closes).toEqual([{ code: 4410, reason: REASON, state: "closed" }]);
      await Bun.sleep(WELL_PAST_BACKOFF_MS);
      expect(peer.uplinks.length).toBe(1);
      expect(log.opens).toBe(1);
      expect(log.states).toEqual(["connecting", "open", "closed"]);
      // The user asks to come back: a new connection, into the same room.
      await c.connect();
      await waitFor(() => peer.uplinks[1]?.length === 1, "the new connection's AUTH");
      expect(JSON.parse(peer.uplinks[1]?.[0] as string)).toMatchObject({ t: "AUTH", join: { rid: "lobby" } });
    } finally {
      await peer.stop();
    }
  });

  test("an SSE stream that sends `event: close` with 4410 and ends: the same, and no new request", async () => {
    const peer = sseServer();
    try {
      const { c, log } = client({ url: peer.url, token: "tok", transport: "sse" });
      await c.connect();
      expect(c.transport).toBe("sse");
      const stream = peer.streams[0];
      stream?.write(`event: close\ndata: ${JSON.stringify({ code: 4410, reason: REASON })}\n\n`);
      stream?.end();
      await waitFor(() => c.state === "closed", "the client to stop");
      expect(log.closes).toEqual([{ code: 4410, reason: REASON, state: "closed" }]);
      await Bun.sleep(WELL_PAST_BACKOFF_MS);
      expect(peer.streams.length).toBe(1);
      expect(log.opens).toBe(1);
      expect(log.states).toEqual(["connecting", "open", "closed"]);
    } finally {
      await peer.stop();
    }
  });

  test("`event: close` with a code that is not final is a loss with that code: the client reconnects", async () => {
    const peer = sseServer();
    try {
      const { c, log } = client({ url: peer.url, token: "tok", transport: "sse" });
      await c.connect();
      // The stream is not ended by the server: the event alone ends it.
      peer.streams[0]?.write('event: close\ndata: {"code":1001,"reason":"server shutting down"}\n\n');
      await waitFor(() => peer.streams.length === 2 && c.state === "open", "a new stream");
      expect(log.closes).toEqual([{ code: 1001, reason: "server shutting down", state: "reconnecting" }]);
      expect(log.states).toEqual(["connecting", "open", "reconnecting", "open"]);
    } finally {
      await peer.stop();
    }
  });

  test("`event: close` with data it cannot read changes nothing: the stream goes on", async () => {
    const peer = sseServer();
    try {
      const { c, log } = client({ url: peer.url, token: "tok", transport: "sse" });
      await c.connect();
      const stream = peer.streams[0];
      stream?.write("event: close\ndata: not json\n\n");
      stream?.write('event: close\ndata: {"reason":"no code"}\n\n');
      stream?.write('data: {"t":"PUSH","push":{"evt":"still here"}}\n\n');
      await waitFor(() => log.pushes.length === 1, "the push after them");
      expect(log.pushes).toEqual(["still here"]);
      expect(log.closes).toEqual([]);
      expect(c.state).toBe("open");
    } finally {
      await peer.stop();
    }
  });
});
