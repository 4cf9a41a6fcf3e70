/**
 * mqtt.routing: which routed topics this instance needs, read off the hub's activity. A uid held
 * here holds its user topic (ONLINE to OFFLINE); a member in a room holds the room's topic
 * (ENTER_ROOM to LEAVE_ROOM). The hub emits a replaced session's OFFLINE before the new
 * session's ONLINE, so the counts stay balanced and the topic stays subscribed throughout.
 */
import type { Activity } from "../../hub/activity.ts";
import type { Subscriptions } from "./subscriptions.ts";
import type { RoutedTopics } from "./topics.ts";

export function routeActivity(topics: RoutedTopics, subs: Subscriptions): (a: Activity) => void {
  return (a) => {
    let topic: string | undefined;
    switch (a.type) {
      case "ONLINE":
      case "OFFLINE":
        topic = topics.user(a.uid);
        break;
      case "ENTER_ROOM":
      case "LEAVE_ROOM":
        topic = topics.room(a.rid);
        break;
      default:
        return;
    }
    // No routed topic (an id no broker takes): its Events come on the events topic.
    if (topic === undefined) return;
    if (a.type === "ONLINE" || a.type === "ENTER_ROOM") subs.hold(topic);
    else subs.release(topic);
  };
}
