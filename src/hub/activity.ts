/** The hub emits user activity: its shape and names are the protocol's (protocol/activity.ts). */
export * from "../protocol/activity.ts";
