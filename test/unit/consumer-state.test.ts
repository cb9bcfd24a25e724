/**
 * A consumer's lag and counts as readiness shows them, given what the producer and the consumer
 * answered: live, from the consumer's last answer while it does not answer, or unknown.
 */
import { consumerState, lagOf } from "../../lib/consumer/consumer-state";

const report = { checkpoint: 40, pendingRetries: 2, deadLetters: 1 };

test("given a head of 50 and a consumer answering checkpoint 40, then the lag is 10, reported live", () => {
	expect(consumerState("clients", 50, report, null)).toEqual({
		producer: "clients",
		head: 50,
		checkpoint: 40,
		lag: 10,
		pendingRetries: 2,
		deadLetters: 1,
		state: null,
		reason: null,
		since: null,
		reported: "live",
	});
});

test("given a consumer that reports itself paused, then its state, reason and since are shown, from its last answer too", () => {
	const pause = { state: "paused" as const, reason: "20 consecutive failed events", since: "2026-01-01T00:00:00.000Z" };
	expect(consumerState("clients", 50, { ...report, pause }, null)).toMatchObject({
		state: "paused",
		reason: pause.reason,
		since: pause.since,
		reported: "live",
	});
	expect(consumerState("clients", 60, null, { ...report, pause })).toMatchObject({ state: "paused", reason: pause.reason, reported: "last known" });
	const running = { state: "running" as const, reason: null, since: null };
	expect(consumerState("clients", 50, { ...report, pause: running }, null)).toMatchObject({ state: "running", reason: null, since: null });
});

test("given a consumer that does not answer but did before, then its last checkpoint counts and the lag grows with the head", () => {
	const before = consumerState("clients", 120, null, report);
	expect(before).toMatchObject({ checkpoint: 40, lag: 80, reported: "last known" });
	expect(consumerState("clients", 130, null, report).lag).toBe(90);
});

test("given a consumer that answers now, then its answer wins over the last one", () => {
	expect(consumerState("clients", 50, { checkpoint: 50, pendingRetries: 0, deadLetters: 0 }, report)).toMatchObject({ lag: 0, reported: "live" });
});

test("given a consumer never heard from, then nothing is known but the head", () => {
	expect(consumerState("goals", 7, null, null)).toEqual({
		producer: "goals",
		head: 7,
		checkpoint: null,
		lag: null,
		pendingRetries: null,
		deadLetters: null,
		state: null,
		reason: null,
		since: null,
		reported: "unknown",
	});
});

test.each([
	[null, 3, null],
	[5, null, null],
	[5, 5, 0],
	[5, 6, 0],
	[9, 4, 5],
])("given head %p and checkpoint %p, then the lag is %p", (head, checkpoint, lag) => {
	expect(lagOf(head, checkpoint)).toBe(lag);
});
