/**
 * The retry schedule (lib/domain/retry-schedule.ts): the contract's backoff (1 s, ×2, at most
 * 10 s, 3 attempts), each delay drawn within ±25 % of it from an injected random source, and the
 * whole round kept within 10 s of its first attempt, jitter or not. Expected delays are written
 * out, not computed with the code's formula.
 */
import { backoffMs, RETRY_POLICY, type Random, type RetryPolicy, retryDelayMs } from "../../lib/domain/retry-schedule";

/** A random source that gives `draws` in turn (and fails the test if asked for more). */
function draws(...values: number[]): Random {
	const left = [...values];
	return () => {
		const next = left.shift();
		if (next === undefined) throw new Error("more draws asked for than the test gave");
		return next;
	};
}

const EXACT: RetryPolicy = { ...RETRY_POLICY, jitter: 0 };
/** more attempts than the contract's, so that the schedule (1+2+4+8+10 s) would pass the 10 s span */
const LONG: RetryPolicy = { ...RETRY_POLICY, attempts: 6 };

describe("the scheduled delays (backoffMs)", () => {
	test.each([
		[1, 1000],
		[2, 2000],
		[3, 4000],
		[4, 8000],
		[5, 10_000],
		[9, 10_000],
	])("given %p failed attempts, then the next one is scheduled %p ms later", (failed, ms) => {
		expect(backoffMs(failed)).toBe(ms);
	});
});

describe("each delay drawn within ±25 % of its schedule (retryDelayMs)", () => {
	test.each([
		// failed attempts, draw, delay
		[1, 0, 750],
		[1, 0.25, 875],
		[1, 0.5, 1000],
		[1, 0.75, 1125],
		[1, 0.9999, 1250],
		[2, 0, 1500],
		[2, 0.5, 2000],
		[2, 0.9999, 2500],
	])("given %p failed attempts and a draw of %p, when nothing of the span is used yet, then the delay is %p ms", (failed, draw, delay) => {
		expect(retryDelayMs(failed, 0, RETRY_POLICY, draws(draw))).toBe(delay);
	});

	test("given the jitter off (RETRY_JITTER=0), then every draw gives the schedule itself", () => {
		for (const draw of [0, 0.3, 0.9999]) {
			expect(retryDelayMs(1, 0, EXACT, draws(draw))).toBe(1000);
			expect(retryDelayMs(2, 1000, EXACT, draws(draw))).toBe(2000);
		}
	});

	test("given 1000 draws spread over [0, 1), then the delays cover 750..1250 ms, none outside", () => {
		const delays = Array.from({ length: 1000 }, (_, i) => retryDelayMs(1, 0, RETRY_POLICY, draws(i / 1000)));
		expect(Math.min(...delays)).toBe(750);
		expect(Math.max(...delays)).toBe(1250);
		// evenly: a quarter of them in each quarter of the range (give or take the rounding to whole ms)
		const quarters = [0, 1, 2, 3].map((q) => delays.filter((ms) => ms >= 750 + 125 * q && ms < 875 + 125 * q + (q === 3 ? 1 : 0)).length);
		for (const count of quarters) expect(Math.abs(count - 250)).toBeLessThanOrEqual(1);
	});
});

describe("the round stays within 10 s of its first attempt", () => {
	test("given 9 s already spent, when the schedule says 2 s (±25 %), then the delay is cut to the 1 s left", () => {
		expect(retryDelayMs(2, 9000, RETRY_POLICY, draws(0.9999))).toBe(1000);
		expect(retryDelayMs(2, 9000, RETRY_POLICY, draws(0))).toBe(1000);
	});

	test("given 8.6 s spent, when the draw is short enough to fit, then it is kept", () => {
		expect(retryDelayMs(2, 8600, RETRY_POLICY, draws(0))).toBe(1400);
	});

	test("given the whole span spent (or more: a late attempt), then the next attempt is due at once", () => {
		expect(retryDelayMs(2, 10_000, RETRY_POLICY, draws(0.5))).toBe(0);
		expect(retryDelayMs(3, 12_345, RETRY_POLICY, draws(0.5))).toBe(0);
	});

	test("given six attempts and every draw at its longest, then the attempts come at 0, 1.25, 3.75, 8.75, 10 and 10 s", () => {
		const random = draws(0.9999, 0.9999, 0.9999, 0.9999, 0.9999);
		const attemptsAt = [0];
		for (let failed = 1; failed < LONG.attempts; failed++) {
			const at = attemptsAt[attemptsAt.length - 1];
			attemptsAt.push(at + retryDelayMs(failed, at, LONG, random));
		}
		expect(attemptsAt).toEqual([0, 1250, 3750, 8750, 10_000, 10_000]);
	});

	test("given the contract's three attempts, then even the longest draws end the round at 3.75 s, the shortest at 2.25 s", () => {
		const longest = draws(0.9999, 0.9999);
		const second = retryDelayMs(1, 0, RETRY_POLICY, longest);
		expect([second, second + retryDelayMs(2, second, RETRY_POLICY, longest)]).toEqual([1250, 3750]);
		const shortest = draws(0, 0);
		const first = retryDelayMs(1, 0, RETRY_POLICY, shortest);
		expect([first, first + retryDelayMs(2, first, RETRY_POLICY, shortest)]).toEqual([750, 2250]);
	});
});
