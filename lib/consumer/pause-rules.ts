/**
 * When a consumer pauses itself, and what a pause looks like (CONTRACT.md, "Operating
 * consumers"). After CONSUMER_PAUSE_AFTER consecutive failed events a consumer stops taking
 * events for CONSUMER_PAUSE_MS (they wait in their queue, and in the producer's log), then tries
 * one: applied, it runs again; failed, it waits as long again. An operator's pause lasts until
 * an operator resumes it. The pause is the consumer's, kept in its database, so every replica
 * keeps it, and so does one that starts meanwhile. Pure: lib/consumer/pauses.ts keeps it.
 */

export interface PausePolicy {
	/** consecutive failed events after which the consumer pauses itself; 0 never */
	after: number;
	/** how long it pauses itself before it tries one event */
	ms: number;
}

export const PAUSE_POLICY: PausePolicy = { after: 20, ms: 60_000 };

/** A consumer's pause, as every replica reads it from the consumer's database. */
export interface PauseState {
	state: "running" | "paused";
	/** why it is paused, in words; null while running */
	reason: string | null;
	/** when it was paused or last resumed; null if never */
	since: Date | null;
	/** a pause by failures: when it tries one event; null for an operator's pause (and while running) */
	probeAt: Date | null;
	/** consecutive failed events, all replicas together */
	failures: number;
}

export const RUNNING: PauseState = { state: "running", reason: null, since: null, probeAt: null, failures: 0 };

/**
 * Given the consecutive failures so far and the outcomes of a batch of events in their log order
 * (true: applied or found stale, false: failed), then the consecutive failures after it: a
 * success starts the count again.
 */
export function failureStreak(current: number, outcomes: readonly boolean[]): number {
	let streak = current;
	for (const succeeded of outcomes) streak = succeeded ? 0 : streak + 1;
	return streak;
}

/** Given a running consumer's consecutive failures, then whether it pauses itself now. */
export function pausesItself(failures: number, policy: PausePolicy): boolean {
	return policy.after > 0 && failures >= policy.after;
}

/** Given the failures that make it pause, the last error and the time, then the pause by failures. */
export function pauseByFailures(failures: number, lastError: string, now: Date, policy: PausePolicy): PauseState {
	const probeAt = new Date(now.getTime() + policy.ms);
	return {
		state: "paused",
		reason: `${failures} consecutive failed events (last: ${lastError.slice(0, 300)}); tries one event at ${probeAt.toISOString()}`,
		since: now,
		probeAt,
		failures,
	};
}

/** Given who pauses (an admin token's id, `repl`), what they said and the time, then an operator's pause. */
export function pauseByOperator(by: string, note: string | undefined, now: Date, failures: number): PauseState {
	return { state: "paused", reason: `paused by an operator (${by})${note ? `: ${note}` : ""}`, since: now, probeAt: null, failures };
}

/** Given the time an operator resumed it, or a tried event was applied, then the consumer running again. */
export function resumed(now: Date): PauseState {
	return { state: "running", reason: null, since: now, probeAt: null, failures: 0 };
}

/** Given a pause and the time now, then whether it is time to try one event. */
export function probeDue(pause: PauseState, now: Date): boolean {
	return pause.state === "paused" && pause.probeAt !== null && now.getTime() >= pause.probeAt.getTime();
}

/** Given a pause by failures whose tried event failed too, and the time, then the pause until the next try. */
export function probeFailed(pause: PauseState, now: Date, policy: PausePolicy): PauseState {
	const probeAt = new Date(now.getTime() + policy.ms);
	const reason = (pause.reason ?? "").replace(/tries one event at \S+$/, `tries one event at ${probeAt.toISOString()}`);
	return { ...pause, reason, probeAt };
}

/** A consumer's pause as the admin API, the REPL and `/api/ready` show it (CONTRACT.md: `{consumer, state, reason, since}`). */
export interface ConsumerPause {
	consumer: string;
	state: "running" | "paused";
	reason: string | null;
	since: string | null;
}

export function presentPause(consumer: string, pause: PauseState): ConsumerPause {
	return { consumer, state: pause.state, reason: pause.reason, since: pause.since ? pause.since.toISOString() : null };
}
