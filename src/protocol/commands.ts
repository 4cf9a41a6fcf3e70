/**
 * The typed commands every way in decodes into (HTTP JSON bodies, gRPC messages, MQTT Events), and
 * the one set of rules that reads them. Fields follow protobuf's JSON mapping, which the HTTP API
 * of the original service used and which gRPC cannot do otherwise: an absent field and `null` are
 * the field's default (`""`); a field of another type is refused. Pure functions, no I/O.
 */
import { isObject, kindOf } from "./json.ts";
import { utf8Length } from "./utf8.ts";

export type Publish = { readonly kind: "publish"; readonly uid: string; readonly evt: string };
export type Broadcast = { readonly kind: "broadcast"; readonly rid: string; readonly evt: string };
export type Dump = { readonly kind: "dump"; readonly transport: boolean };
/** What reaches sessions: the commands the hub delivers. */
export type Delivery = Publish | Broadcast;
/** The commands read one at a time (a batch is a list of deliveries, read by protocol/batch.ts). */
export type SingleCommand = Delivery | Dump;
export type SingleKind = SingleCommand["kind"];

/**
 * Why a command was refused. Each way in maps the code onto its own answer: HTTP 400/413, gRPC
 * INVALID_ARGUMENT/RESOURCE_EXHAUSTED, a counted and logged drop on MQTT.
 */
export type CommandErrorCode = "bad_request" | "body_too_large" | "evt_too_large" | "batch_too_large";

/** The HTTP status of each refusal: what the API answers, and the `code` of a batch reply. */
export const STATUS_OF_ERROR: Readonly<Record<CommandErrorCode, 400 | 413>> = {
  bad_request: 400,
  body_too_large: 413,
  evt_too_large: 413,
  batch_too_large: 413,
};

export interface CommandError {
  readonly code: CommandErrorCode;
  readonly detail: string;
}

export type CommandRead<C extends { readonly kind: string } = SingleCommand> =
  | { readonly ok: true; readonly command: C }
  | { readonly ok: false; readonly error: CommandError };

export interface CommandLimits {
  /** limits.max_body_bytes: the whole encoded request (body, message, payload). */
  readonly maxBodyBytes: number;
  /** limits.max_evt_bytes, counted in UTF-8. */
  readonly maxEvtBytes: number;
  /** limits.max_batch_commands: the most commands one Batch may carry. */
  readonly maxBatchCommands: number;
}

/** What a way in calls the encoded request in its messages. */
export type RequestUnit = "body" | "message" | "payload";

export const refuse = (code: CommandErrorCode, detail: string): { ok: false; error: CommandError } => ({
  ok: false,
  error: { code, detail },
});

/** The refusal of an encoded request over limits.max_body_bytes. */
export function requestTooLarge(unit: RequestUnit, limits: CommandLimits): CommandError {
  return { code: "body_too_large", detail: `${unit} over limits.max_body_bytes (${limits.maxBodyBytes} bytes)` };
}

/** The size check on the encoded request, before anything is decoded. */
export function checkRequestSize(bytes: number, unit: RequestUnit, limits: CommandLimits): CommandError | undefined {
  return bytes <= limits.maxBodyBytes ? undefined : requestTooLarge(unit, limits);
}

/** The limits of the command rules, from the config's limits.* keys. */
export function commandLimits(limits: {
  max_body_bytes: number;
  max_evt_bytes: number;
  max_batch_commands: number;
}): CommandLimits {
  return {
    maxBodyBytes: limits.max_body_bytes,
    maxEvtBytes: limits.max_evt_bytes,
    maxBatchCommands: limits.max_batch_commands,
  };
}

/** Thrown only inside this module, so that each field is one line below. */
class FieldError extends Error {}

function text(o: Record<string, unknown>, name: string): string {
  const v = o[name];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new FieldError(`${name} must be a string, got ${kindOf(v)}`);
  return v;
}

function evtFits(evt: string, limits: CommandLimits): CommandError | undefined {
  if (utf8Length(evt, limits.maxEvtBytes) <= limits.maxEvtBytes) return undefined;
  return {
    code: "evt_too_large",
    detail: `evt over limits.max_evt_bytes (${limits.maxEvtBytes} bytes, counted in UTF-8)`,
  };
}

/**
 * Reads one command of a known kind from an already decoded request (a JSON object, or a gRPC
 * message as a plain object). A field of the wrong type answers before a missing uid, and that
 * before an evt over its limit, as the HTTP API's error order has it (docs/protocol.md, "Errors").
 */
export function readCommand<K extends SingleKind>(
  kind: K,
  request: unknown,
  limits: CommandLimits,
  name?: string,
): CommandRead<Extract<SingleCommand, { kind: K }>>;
export function readCommand(kind: SingleKind, request: unknown, limits: CommandLimits, name = "request"): CommandRead {
  if (!isObject(request)) return refuse("bad_request", `${name} must be an object, got ${kindOf(request)}`);
  try {
    switch (kind) {
      case "dump": {
        // An opt-in addition: {"transport": true} adds each session's transport.
        const t = request.transport;
        if (t !== undefined && t !== null && typeof t !== "boolean") {
          return refuse("bad_request", `transport must be a boolean, got ${kindOf(t)}`);
        }
        return { ok: true, command: { kind, transport: t === true } };
      }
      case "publish": {
        const uid = text(request, "uid");
        const evt = text(request, "evt");
        if (uid === "") return refuse("bad_request", "uid is required");
        const big = evtFits(evt, limits);
        return big ? { ok: false, error: big } : { ok: true, command: { kind, uid, evt } };
      }
      case "broadcast": {
        const rid = text(request, "rid");
        const evt = text(request, "evt");
        const big = evtFits(evt, limits);
        return big ? { ok: false, error: big } : { ok: true, command: { kind, rid, evt } };
      }
    }
  } catch (err) {
    if (err instanceof FieldError) return refuse("bad_request", err.message);
    throw err;
  }
}

/**
 * The Event of the events topic: `{uid?, rid?, evt}`. A non-empty uid publishes to that user;
 * otherwise it broadcasts to rid ("" = the world). Every field is read by the rules above.
 */
export function readEvent(event: unknown, limits: CommandLimits): CommandRead<Delivery> {
  if (!isObject(event)) return refuse("bad_request", `event must be an object, got ${kindOf(event)}`);
  const uid = event.uid;
  // A uid of the wrong type is refused by the publish rules, with the same words as over HTTP.
  const publishes = uid !== undefined && uid !== null && uid !== "";
  return publishes ? readCommand("publish", event, limits) : readCommand("broadcast", event, limits);
}

// Fatal: bytes that are not UTF-8 are refused, not read with U+FFFD in their place. A leading byte
// order mark is skipped (not part of the JSON text). Faster than isUtf8 and a Buffer view: a
// Uint8Array fresh from a request has no ArrayBuffer until one is asked for, and asking costs more.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The bytes of a JSON request as an object: UTF-8, then JSON, then an object. `emptyIsObject`: no
 * bytes at all read as `{}` (the HTTP API's rule for an empty body).
 */
export function parseJsonObject(
  bytes: Uint8Array,
  unit: RequestUnit,
  emptyIsObject = false,
): { ok: true; value: Record<string, unknown> } | { ok: false; error: CommandError } {
  let s: string;
  try {
    s = utf8.decode(bytes);
  } catch {
    return refuse("bad_request", `${unit} is not UTF-8`);
  }
  if (emptyIsObject && s.trim() === "") return { ok: true, value: {} };
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return refuse("bad_request", `${unit} is not valid JSON`);
  }
  if (!isObject(v)) return refuse("bad_request", `${unit} must be a JSON object`);
  return { ok: true, value: v };
}
