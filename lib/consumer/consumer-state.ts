/**
 * How far behind a consumer is, as `/api/ready`, the metrics and the operations page show it:
 * its lag is the producer's log head minus the consumer's checkpoint (events committed by the
 * producer that the consumer has not applied yet), next to its pending retries and dead letters.
 *
 * A gateway asks each consumer for its state over the transporter. While no replica of a
 * consumer answers (stopped, frozen, restarting) the gateway still knows the producer's head:
 * with the checkpoint the consumer reported last, the lag it shows keeps growing with every
 * change made meanwhile, which is the point of watching it. Pure: the caller does the asking.
 */

/** A consumer's pause, as its replicas report it (lib/consumer/pause-rules.ts). */
export interface PauseReport {
	state: "running" | "paused";
	/** why it is paused, in words; null while running */
	reason: string | null;
	/** ISO time it was paused or last resumed; null if never */
	since: string | null;
}

/** What a consumer says about itself (its own database). */
export interface ConsumerSelfReport {
	checkpoint: number;
	pendingRetries: number;
	deadLetters: number;
	/** absent in the answer of a replica of the version before */
	pause?: PauseReport;
}

/** How the figures were obtained: from the consumer now, from its last answer, or not at all. */
export type Reported = "live" | "last known" | "unknown";

export interface ConsumerState {
	producer: string;
	/** the producer's last sequence, null when the producer did not answer */
	head: number | null;
	checkpoint: number | null;
	/** head − checkpoint (never below 0), null when either is unknown */
	lag: number | null;
	pendingRetries: number | null;
	deadLetters: number | null;
	/** running or paused (CONSUMER_PAUSE_AFTER, or an operator), null when unknown */
	state: PauseReport["state"] | null;
	/** why it is paused */
	reason: string | null;
	since: string | null;
	reported: Reported;
}

export function lagOf(head: number | null, checkpoint: number | null): number | null {
	if (head === null || checkpoint === null) return null;
	// a checkpoint read after the head (a commit in between) is not a negative lag
	return Math.max(0, head - checkpoint);
}

/**
 * Given the producer's head (null if it did not answer), the consumer's answer now (null if
 * none came) and its last answer before (null if there never was one), then its state.
 */
export function consumerState(producer: string, head: number | null, now: ConsumerSelfReport | null, lastKnown: ConsumerSelfReport | null): ConsumerState {
	const report = now ?? lastKnown;
	const reported: Reported = now ? "live" : lastKnown ? "last known" : "unknown";
	return {
		producer,
		head,
		checkpoint: report?.checkpoint ?? null,
		lag: lagOf(head, report?.checkpoint ?? null),
		pendingRetries: report?.pendingRetries ?? null,
		deadLetters: report?.deadLetters ?? null,
		state: report?.pause?.state ?? null,
		reason: report?.pause?.reason ?? null,
		since: report?.pause?.since ?? null,
		reported,
	};
}
