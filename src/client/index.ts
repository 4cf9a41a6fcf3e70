/** The Comet client SDK: `import CometClient from "comet/client"` or `import { CometClient } from ...`. */
import { CometClient } from "./client.ts";

export { type BackoffOptions, backoffDelay } from "../protocol/backoff.ts";
export { CometClient } from "./client.ts";
export {
  ABNORMAL_CODE,
  type CometClientEvents,
  type CometClientOptions,
  type CometState,
  FINAL_CLOSE_CODES,
  type Gap,
  type PushPosition,
  SILENT_LINK_CODE,
} from "./options.ts";
export default CometClient;
