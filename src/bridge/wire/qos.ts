/** An MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once (mqtt.qos). */
export type Qos = 0 | 1 | 2;
