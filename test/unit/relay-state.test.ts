/**
 * A relay's lag as a gateway's readiness shows it (lib/relay/relay-state.ts), given what a
 * replica of the producer answered: live, last known while none answers, unknown, or off.
 */
import { relayState } from "../../lib/relay/relay-state";

test("given a replica answering head 50 and checkpoint 40, then the lag is 10, reported live", () => {
	expect(relayState("clients", true, { head: 50, checkpoint: 40 }, null)).toEqual({ producer: "clients", head: 50, checkpoint: 40, lag: 10, reported: "live" });
});

test("given no answer now but one before, then the last answer is shown as last known", () => {
	expect(relayState("goals", false, null, { head: 7, checkpoint: 3 })).toEqual({ producer: "goals", head: 7, checkpoint: 3, lag: 4, reported: "last known" });
});

test("given an answer now, then it wins over the last one", () => {
	expect(relayState("goals", true, { head: 9, checkpoint: 9 }, { head: 7, checkpoint: 3 })).toMatchObject({ lag: 0, reported: "live" });
});

test("given a relay offered that never answered, then nothing is known", () => {
	expect(relayState("clients", true, null, null)).toEqual({ producer: "clients", head: null, checkpoint: null, lag: null, reported: "unknown" });
});

test("given a producer without a relay (no AMQP, or EVENT_STREAM=off) never heard from, then it is off", () => {
	expect(relayState("clients", false, null, null)).toMatchObject({ lag: null, reported: "off" });
});

test("given a checkpoint read after the head (a commit in between), then the lag is 0, never negative", () => {
	expect(relayState("clients", true, { head: 5, checkpoint: 6 }, null).lag).toBe(0);
});
