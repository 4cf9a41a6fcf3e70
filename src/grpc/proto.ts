/**
 * proto/comet.proto, embedded: imported as text so that `bun build --compile` puts it inside
 * dist/comet and nothing is read from beside the source at run time.
 */
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import protoText from "../../proto/comet.proto" with { type: "text" };

export const PROTO_TEXT: string = protoText;

const root = protobuf.parse(protoText, { keepCase: true }).root;

/** The same options a Node client typically uses; enums by name, so a Downlink reads {t: "PUSH"}. */
export const packageDefinition = protoLoader.fromJSON(root.toJSON(), {
  keepCase: true,
  enums: String,
  longs: String,
  defaults: true,
});

export const UplinkType = root.lookupType("comet.Uplink");
export const DownlinkType = root.lookupType("comet.Downlink");
