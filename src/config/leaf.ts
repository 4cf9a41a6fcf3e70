/**
 * What a configuration key is made of (its type, default and doc) and the helpers schema.ts writes
 * its keys with. A leaf's default is written as the file writes it ("10s", "64MiB", "0.0.0.0:8080"):
 * the loader reads it like any value, and `comet config defaults` prints it as it is.
 */

export type LeafKind =
  | { type: "string" }
  | { type: "listen" }
  | { type: "duration"; min: number }
  | { type: "int"; min: number }
  | { type: "size"; min: number }
  | { type: "enum"; values: readonly string[] }
  | { type: "strings" }
  | { type: "accounts" }
  | { type: "webhooks" }
  | { type: "bool" };

/** A user name and password a broker lets in. */
export interface Account {
  username: string;
  password: string;
}

/** One backend that receives activity and presence transitions by HTTP POST (webhooks/). */
export interface WebhookConfig {
  url: string;
  /** Activity names (ONLINE, ...) and presence transitions (presence.ONLINE, presence.OFFLINE). */
  events: string[];
  secret: string;
  /** Per request, ms. */
  timeout: number;
}

/** What a listen key becomes once parsed. */
export interface Listen {
  host: string;
  port: number;
}

// Type-only: carries a leaf's parsed value type, so Config can be read off SCHEMA and never written
// out by hand. It is never set at run time; a leaf's default differs from it (a duration's default
// is written "10s", a listen address "HOST:PORT").
declare const VALUE: unique symbol;

export interface Leaf<T = unknown> {
  kind: LeafKind;
  /** As the file writes it; read by the loader like a value from the file. */
  default: unknown;
  /**
   * What the key does, for whoever edits the file: printed above it by `comet config defaults`,
   * the only documentation of the key. A "\n" starts a new comment line (an example's lines).
   */
  doc: string;
  readonly [VALUE]?: T;
}

export type SchemaNode = { [key: string]: SchemaNode | Leaf };

/** The value a schema describes: a leaf's parsed type at every leaf, the same nesting above. */
export type ConfigOf<S> = { [K in keyof S]: S[K] extends Leaf<infer T> ? T : ConfigOf<S[K]> };

export function isLeaf(node: SchemaNode | Leaf): node is Leaf {
  return "kind" in node && "doc" in node && typeof (node as Leaf).doc === "string";
}

// Kept beside the nodes rather than in them: a key of a node is a key of the file.
const SECTION_DOCS = new WeakMap<SchemaNode, string>();

/** A mapping of keys with a doc of its own, printed above it: what its keys have in common. */
export function section<T extends SchemaNode>(doc: string, node: T): T {
  SECTION_DOCS.set(node, doc);
  return node;
}

export const sectionDoc = (node: SchemaNode): string | undefined => SECTION_DOCS.get(node);

const leaf = <T>(kind: LeafKind, def: unknown, doc: string): Leaf<T> => ({ kind, default: def, doc });

export const str = (def: string, doc: string): Leaf<string> => leaf({ type: "string" }, def, doc);
export const listen = (def: string, doc: string): Leaf<Listen> => leaf({ type: "listen" }, def, doc);
/** def like "10s"; min in ms. */
export const dur = (def: string, doc: string, min = 1): Leaf<number> => leaf({ type: "duration", min }, def, doc);
export const int = (def: number, doc: string, min = 0): Leaf<number> => leaf({ type: "int", min }, def, doc);
/** def like "64MiB"; min in bytes. */
export const size = (def: string, doc: string, min = 0): Leaf<number> => leaf({ type: "size", min }, def, doc);
export const strings = (def: string[], doc: string): Leaf<string[]> => leaf({ type: "strings" }, def, doc);
export const accounts = (doc: string): Leaf<Account[]> => leaf({ type: "accounts" }, [], doc);
export const webhooks = (doc: string): Leaf<WebhookConfig[]> => leaf({ type: "webhooks" }, [], doc);
export const bool = (def: boolean, doc: string): Leaf<boolean> => leaf({ type: "bool" }, def, doc);
export const oneOf = <const V extends readonly string[]>(
  values: V,
  def: NoInfer<V[number]>,
  doc: string,
): Leaf<V[number]> => leaf({ type: "enum", values }, def, doc);
