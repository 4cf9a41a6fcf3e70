/**
 * protobuf's JSON mapping read strictly, as the reference client of the original project reads
 * downlink frames (Go's protojson without DiscardUnknown): a field its .proto does not know, or a
 * value of the wrong JSON type, is an error. protobufjs's fromObject ignores unknown fields, so the
 * strictness is checked here first, against the message types of the given .proto.
 */
import { readFileSync } from "node:fs";
import protobuf from "protobufjs";

export class StrictReader {
  private readonly root: protobuf.Root;
  constructor(protoFile: string) {
    this.root = protobuf.parse(readFileSync(protoFile, "utf8"), { keepCase: true }).root;
  }

  /** Reads text as the JSON of typeName; throws on anything a strict reader refuses. */
  read(typeName: string, text: string): protobuf.Message {
    const type = this.root.lookupType(typeName);
    const value: unknown = JSON.parse(text);
    check(type, value, typeName);
    const msg = type.fromObject(value as Record<string, unknown>);
    const err = type.verify(msg);
    if (err) throw new Error(`${typeName}: ${err}`);
    return msg;
  }
}

function check(type: protobuf.Type, value: unknown, at: string): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error(`${at}: not an object`);
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key] ?? Object.values(type.fields).find((f) => f.options?.json_name === key);
    if (!field) throw new Error(`${at}.${key}: unknown field of ${type.fullName}`);
    field.resolve();
    const where = `${at}.${key}`;
    if (field.map || field.repeated) {
      if (typeof v !== "object" || v === null) throw new Error(`${where}: expected a ${field.map ? "map" : "list"}`);
      continue;
    }
    if (field.resolvedType instanceof protobuf.Type) check(field.resolvedType, v, where);
    else if (field.resolvedType instanceof protobuf.Enum) {
      if (!(typeof v === "string" && v in field.resolvedType.values) && typeof v !== "number") {
        throw new Error(`${where}: not a value of ${field.resolvedType.fullName}`);
      }
    } else if (field.type === "string" && typeof v !== "string") throw new Error(`${where}: expected a string`);
  }
}
