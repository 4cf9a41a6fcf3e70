/**
 * The fan-out topics a session is in: exactly one, its room's or the lobby's, or their twin for
 * sessions that asked for positions (hub.ts explains why there is no world topic).
 */
export const roomTopic = (rid: string): string => `r:${rid}`;
/** The topic of a room's sessions that asked for positions. */
export const positionsTopic = (rid: string): string => `rp:${rid}`;
/** The topic of the sessions in no room. */
export const LOBBY_TOPIC = roomTopic("");
export const LOBBY_POSITIONS_TOPIC = positionsTopic("");
