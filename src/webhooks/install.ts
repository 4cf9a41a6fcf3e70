/**
 * The webhooks as a part of an instance: fed with the hub's activity (HEARD only while a webhook
 * wants it: it fires on every uplink) and the presence transitions this instance emits.
 */
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import type { Part } from "../part.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../metrics/registry.ts";
import { Webhooks } from "./hooks.ts";

export interface WebhooksPart extends Part {
  readonly hooks: Webhooks;
}

export function installWebhooks(core: {
  config: Config;
  hub: Hub;
  registry: Registry;
  log: Logger;
  id: string;
}): WebhooksPart {
  const { hub } = core;
  const hooks = new Webhooks(core.config.webhooks, { registry: core.registry, log: core.log, server: core.id });
  let unlisten = () => {};
  const listen = () => {
    unlisten();
    unlisten = hooks.count > 0 ? hub.onActivity((a) => hooks.activity(a), { heard: hooks.wants("HEARD") }) : () => {};
  };
  listen();
  return {
    hooks,
    reload(config, changed) {
      if (!changed.includes("webhooks")) return;
      hooks.reload(config.webhooks);
      listen();
    },
    async close() {
      unlisten();
      await hooks.flush(2000);
      hooks.close();
    },
  };
}
