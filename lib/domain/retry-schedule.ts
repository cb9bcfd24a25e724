/**
 * When a failed event is tried again: exponential backoff (1 s, ×2, at most 10 s; 3 attempts in
 * all), each delay drawn uniformly within ±25 % of the scheduled one, so that events that failed
 * together (a database blip, a bad deploy, a burst on two replicas) are not all retried in the
 * same instant and fail together again. The whole schedule stays within the seed's bound: the
 * last attempt comes at most 10 s after the first, jitter or not (a delay that would pass it is
 * cut short). RETRY_JITTER=0 turns the jitter off (moleculer.config.ts).
 *
 * Pure: the random source and the time already spent are handed in (tests give a fixed sequence).
 */

export interface RetryPolicy {
	/** attempts in all, the original delivery included */
	attempts: number;
	firstDelayMs: number;
	factor: number;
	maxDelayMs: number;
	/** each delay is drawn uniformly within ±this fraction of the scheduled one; 0 is no jitter */
	jitter: number;
	/** the last attempt comes at most this long after the first */
	spanMs: number;
}

/** ±25 %: what RETRY_JITTER turns on (the default) or off. */
export const RETRY_JITTER = 0.25;

export const RETRY_POLICY: RetryPolicy = { attempts: 3, firstDelayMs: 1000, factor: 2, maxDelayMs: 10_000, jitter: RETRY_JITTER, spanMs: 10_000 };

/** Uniform random numbers in [0, 1): Math.random in a node, a fixed sequence in a test. */
export type Random = () => number;

/** The scheduled delay before the next attempt, after `failed` failed attempts (1 → 1 s, 2 → 2 s, 3 → 4 s …), before jitter. */
export function backoffMs(failed: number, policy: RetryPolicy = RETRY_POLICY): number {
	return Math.min(policy.firstDelayMs * policy.factor ** (failed - 1), policy.maxDelayMs);
}

/**
 * The delay before the next attempt, in whole ms: the scheduled one (backoffMs) moved by a draw
 * of `random` within ±policy.jitter of it, then cut to what is left of policy.spanMs after
 * `elapsedMs` (the time since the first attempt of this round), never below 0.
 */
export function retryDelayMs(failed: number, elapsedMs: number, policy: RetryPolicy, random: Random): number {
	const scheduled = backoffMs(failed, policy);
	const drawn = scheduled * (1 + policy.jitter * (2 * random() - 1));
	const left = policy.spanMs - Math.max(0, elapsedMs);
	return Math.max(0, Math.round(Math.min(drawn, left)));
}
