/**
 * When a consumer pauses itself and what its pause says: consecutive failures across a batch,
 * the threshold, the pause by failures and its try, an operator's pause and resume.
 */
import {
	failureStreak,
	PAUSE_POLICY,
	pauseByFailures,
	pauseByOperator,
	pausesItself,
	presentPause,
	probeDue,
	probeFailed,
	RUNNING,
	resumed,
} from "../../lib/consumer/pause-rules";

const policy = { after: 3, ms: 60_000 };
const at = (iso: string) => new Date(iso);

test("the defaults are the contract's: 20 consecutive failures, 60 s", () => {
	expect(PAUSE_POLICY).toEqual({ after: 20, ms: 60_000 });
});

describe("consecutive failures", () => {
	test.each([
		[0, [false, false], 2],
		[2, [false], 3],
		[5, [true], 0],
		[5, [false, true, false], 1],
		[0, [true, false, false, false], 3],
		[4, [], 4],
	])("given %p so far and a batch %p, then %p", (current, outcomes, expected) => {
		expect(failureStreak(current, outcomes)).toBe(expected);
	});
});

describe("the threshold", () => {
	test.each([
		[2, false],
		[3, true],
		[4, true],
	])("given %p consecutive failures and CONSUMER_PAUSE_AFTER 3, then pauses itself: %p", (failures, pauses) => {
		expect(pausesItself(failures, policy)).toBe(pauses);
	});

	test("given CONSUMER_PAUSE_AFTER 0, then it never pauses itself", () => {
		expect(pausesItself(1_000_000, { after: 0, ms: 1000 })).toBe(false);
	});
});

describe("a pause by failures", () => {
	const now = at("2026-03-01T10:00:00.000Z");
	const pause = pauseByFailures(3, "InjectedFaultError: Injected fault for entity 7", now, policy);

	test("given the failures and the last error, then paused since now, trying one event a pause later, and saying why", () => {
		expect(pause).toEqual({
			state: "paused",
			reason: "3 consecutive failed events (last: InjectedFaultError: Injected fault for entity 7); tries one event at 2026-03-01T10:01:00.000Z",
			since: now,
			probeAt: at("2026-03-01T10:01:00.000Z"),
			failures: 3,
		});
	});

	test.each([
		["2026-03-01T10:00:59.999Z", false],
		["2026-03-01T10:01:00.000Z", true],
		["2026-03-01T11:00:00.000Z", true],
	])("given the time %s, then its try is due: %p", (time, due) => {
		expect(probeDue(pause, at(time))).toBe(due);
	});

	test("given its tried event failed too, then it tries again a pause later, the reason saying when", () => {
		const later = at("2026-03-01T10:01:02.000Z");
		const again = probeFailed(pause, later, policy);
		expect(again).toMatchObject({ state: "paused", since: now, probeAt: at("2026-03-01T10:02:02.000Z") });
		expect(again.reason).toBe(
			"3 consecutive failed events (last: InjectedFaultError: Injected fault for entity 7); tries one event at 2026-03-01T10:02:02.000Z",
		);
		expect(probeDue(again, later)).toBe(false);
	});

	test("given a long error, then the reason keeps 300 characters of it", () => {
		expect(pauseByFailures(3, "x".repeat(1000), now, policy).reason).toContain(`(last: ${"x".repeat(300)});`);
	});
});

describe("an operator's pause and resume", () => {
	const now = at("2026-03-01T10:00:00.000Z");

	test("given an operator's pause, then no try is ever due: it lasts until resumed", () => {
		const pause = pauseByOperator("token-0123456789ab", "maintenance", now, 2);
		expect(pause).toEqual({ state: "paused", reason: "paused by an operator (token-0123456789ab): maintenance", since: now, probeAt: null, failures: 2 });
		expect(probeDue(pause, at("2030-01-01T00:00:00.000Z"))).toBe(false);
		expect(pauseByOperator("repl", undefined, now, 0).reason).toBe("paused by an operator (repl)");
	});

	test("given a resume, then running since then, its failures counted from 0", () => {
		expect(resumed(now)).toEqual({ state: "running", reason: null, since: now, probeAt: null, failures: 0 });
		expect(probeDue(resumed(now), now)).toBe(false);
	});

	test("given a consumer never paused, then running, never since", () => {
		expect(presentPause("goals", RUNNING)).toEqual({ consumer: "goals", state: "running", reason: null, since: null });
		expect(presentPause("goals", pauseByOperator("repl", undefined, now, 0))).toEqual({
			consumer: "goals",
			state: "paused",
			reason: "paused by an operator (repl)",
			since: "2026-03-01T10:00:00.000Z",
		});
	});
});
