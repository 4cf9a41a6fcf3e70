/** The routed cluster's tests (routing-suite.ts) on Mosquitto (aedes where it is absent). */
import { routingSuite } from "./routing-suite.ts";
import { TestBroker } from "./broker.ts";

routingSuite("mosquitto", () => TestBroker.start());
