/**
 * Who may open a subscription, on any transport: the browser Origin check, the client address
 * (believing X-Forwarded-For only from trusted proxies), and a per-address connect rate. Runs
 * before any socket exists, and answers a reason: each transport maps it to its own refusal
 * (an HTTP status before the upgrade, a gRPC status on the stream).
 */
import { BlockList, isIP } from "node:net";
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../errors.ts";
import { PerSecondCounts } from "../per-second.ts";
import type { Refusal, RefusalReason } from "../protocol/refusal.ts";

/** What a transport knows of a connection before it opens, read from its headers or metadata. */
export interface ConnectInfo {
  /** The TCP peer's address, as the runtime gives it (IPv4-mapped IPv6 included). */
  peer: string;
  origin: string | null;
  forwardedFor: string | null;
}

export type { Refusal, RefusalReason } from "../protocol/refusal.ts";

export type Admission = { ok: true; ip: string } | { ok: false; refusal: Refusal };

/** "::ffff:10.0.0.1" → "10.0.0.1": one spelling per client, for the rate table and the logs. */
export const normalizeIp = (ip: string): string => (ip.startsWith("::ffff:") ? ip.slice(7) : ip);

/** trusted_proxies as a BlockList; undefined when empty. Throws a ConfigError naming the entry that is not an address. */
export function trustedProxies(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const [i, e] of entries.entries()) {
    const [addr, bits, ...more] = e.split("/");
    const family = more.length === 0 ? isIP(addr ?? "") : 0;
    if (family === 0) {
      throw new ConfigError(
        `trusted_proxies[${i}]`,
        `expected an IP address or CIDR range like 10.0.0.0/8, got ${JSON.stringify(e)}`,
      );
    }
    const type = family === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(addr as string, type);
    else {
      const most = family === 6 ? 128 : 32;
      // Digits only: Number("") is 0, and "10.0.0.0/" would trust every address.
      const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
      if (Number.isNaN(prefix) || prefix > most) {
        throw new ConfigError(
          `trusted_proxies[${i}]`,
          `expected a prefix length from 0 to ${most} after "/", got ${JSON.stringify(e)}`,
        );
      }
      list.addSubnet(addr as string, prefix, type);
    }
  }
  return list;
}

const refuse = (reason: RefusalReason, detail: string): Admission => ({ ok: false, refusal: { reason, detail } });

const familyOf = (ip: string): "ipv4" | "ipv6" => (isIP(ip) === 6 ? "ipv6" : "ipv4");

export class Admitter {
  private readonly origins: Set<string> | undefined;
  private readonly trusted: BlockList | undefined;
  private readonly perIp: number;
  /** Connects per address in the current second. */
  private readonly recent = new PerSecondCounts();

  constructor(cfg: Config) {
    this.origins = cfg.allowed_origins.length ? new Set(cfg.allowed_origins.map((o) => o.toLowerCase())) : undefined;
    this.trusted = trustedProxies(cfg.trusted_proxies);
    this.perIp = cfg.limits.connects_per_ip_per_second;
  }

  /** Whether admit reads `origin` (allowed_origins is set): else a transport need not read the header. */
  get readsOrigin(): boolean {
    return this.origins !== undefined;
  }

  /** Whether admit reads `forwardedFor` (trusted_proxies is set): else a transport need not read the header. */
  get readsForwardedFor(): boolean {
    return this.trusted !== undefined;
  }

  /** The client's address: the peer's, or from X-Forwarded-For when the peer is a trusted proxy. */
  clientIp(info: Pick<ConnectInfo, "peer" | "forwardedFor">): string {
    const peer = normalizeIp(info.peer);
    if (!this.trusted || !peer || !this.isTrusted(peer)) return peer;
    const xff = info.forwardedFor;
    if (!xff) return peer;
    // Walk from the right: the first address not of a trusted proxy is the client.
    const hops = xff.split(",").map((h) => h.trim());
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i] as string;
      if (isIP(hop) === 0) return peer;
      if (!this.isTrusted(hop)) return hop;
    }
    return hops[0] ?? peer;
  }

  private isTrusted(ip: string): boolean {
    return (this.trusted as BlockList).check(ip, familyOf(ip));
  }

  /** allowed_origins: an absent Origin (not a browser, or same-origin) is always allowed. */
  originAllowed(origin: string | null): boolean {
    return !this.origins || origin === null || this.origins.has(origin.toLowerCase());
  }

  admit(info: ConnectInfo, now: number): Admission {
    const origin = info.origin;
    if (!this.originAllowed(origin)) {
      return refuse("origin", `origin ${JSON.stringify(origin)} is not in allowed_origins`);
    }
    const ip = this.clientIp(info);
    if (this.perIp > 0 && this.recent.add(ip, now) > this.perIp) {
      return refuse("connect_rate", "too many connects from this address: retry in a second");
    }
    return { ok: true, ip };
  }

  /** Forgets windows that ended; called by the gateway's sweep. */
  sweep(now: number): void {
    this.recent.sweep(now);
  }
}
