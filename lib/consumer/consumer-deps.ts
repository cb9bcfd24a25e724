/**
 * What a consumer engine is given (lib/consumer/engine.ts): its database, log and snapshot
 * readers, clock, policy and reporting, and what each of its steps reads of the engine it runs in.
 * Nothing here does anything; the steps live beside it, one per file.
 */
import type { Checkpoints } from "./checkpoints";
import { SNAPSHOT_PAGE_SIZE, type Source } from "../constants";
import type { Database } from "../storage/database";
import type { Effects } from "../event-log/effects";
import type { DomainEvent, EventPage } from "../domain/events";
import type { FaultInjector } from "../infra/faults";
import type { RetryStore } from "./retries";
import type { PauseStore } from "./pauses";
import type { PauseState } from "./pause-rules";
import type { Projection } from "./projection";
import type { SnapshotPage } from "../domain/snapshot";

export interface ConsumerPolicy {
	/** events per page when catching up */
	pageSize: number;
	/** live events are applied in this many independent lanes, by entity id */
	partitions: number;
	/** live events per transaction at most */
	liveBatchMax: number;
	/** how often the engine checks whether a retry is due (a timer, no query) */
	retryPollMs: number;
	/** with no retry known to be due, the retry table is still read this often (another replica's rows) */
	retryIdleLookMs: number;
	/** due retries taken per look */
	retryBatch: number;
	/** wait this long after a live event showed a gap before catching up (the gap often fills by itself) */
	gapGraceMs: number;
	/**
	 * live events held in memory at most (queued or being applied); one beyond it is left to
	 * catch-up, which reads it from the log: a consumer that falls behind does not grow without bound
	 */
	liveBacklogMax: number;
	/** entities per page of a producer's snapshot (one transaction each) */
	snapshotPageSize: number;
	/** a bootstrap or rebuild logs its progress at most this often */
	progressEveryMs: number;
	/** how often a replica reads its consumer's pause (another replica's, or one whose time to try an event came) */
	pauseLookMs: number;
}

export const CONSUMER_POLICY: ConsumerPolicy = {
	pageSize: 500,
	partitions: 4,
	liveBatchMax: 200,
	retryPollMs: 200,
	retryIdleLookMs: 5000,
	retryBatch: 50,
	gapGraceMs: 250,
	liveBacklogMax: 10_000,
	snapshotPageSize: SNAPSHOT_PAGE_SIZE,
	progressEveryMs: 2000,
	pauseLookMs: 1000,
};

/** What the engine tells its owner: metrics and logs. */
export interface ConsumerReport {
	applied(count: number): void;
	stale(count: number): void;
	failed(count: number): void;
	retried(): void;
	deadLettered(): void;
	/** a page of the log read by catch-up */
	caughtUp(read: number): void;
	/** entities read from the producer's snapshot */
	snapshotRead?(entities: number): void;
	/** a catch-up run that changed something */
	catchUpRun(): void;
	propagation(ms: number): void;
	/** a live event that failed its schema check (dead-lettered, never applied) */
	rejected?(): void;
	/**
	 * the consumer was paused or runs again (running ↔ paused): `decidedHere` when this replica
	 * decided it (its failures, its tried event), not when it read another's decision
	 */
	pauseChanged?(pause: PauseState, decidedHere: boolean): void;
	/** one line per applied event (with the request that caused it): LOG_LEVEL=debug shows them */
	debug?(message: string): void;
	info(message: string): void;
	warn(message: string): void;
	error(message: string, err?: unknown): void;
}

export interface ConsumerDeps<E extends DomainEvent> {
	producer: Source;
	db: Database;
	projection: Projection<E>;
	checkpoints: Checkpoints;
	retries: RetryStore;
	/** the consumer's pause and its failures counted (lib/consumer/pauses.ts); without it, it never pauses */
	pauses?: PauseStore;
	/** a page of the producer's log after a sequence */
	readLog(after: number, limit: number): Promise<EventPage<E>>;
	/**
	 * A page of the producer's snapshot (its first page when `atSequence` is undefined). Without
	 * it a consumer with no checkpoint replays the log from its start, and cannot rebuild.
	 */
	readSnapshot?(atSequence: number | undefined, afterEntity: number, limit: number): Promise<SnapshotPage<E>>;
	/** the projection in words, for progress lines: "goals' copy of clients" */
	copyName?: string;
	/** after commit: evict what the batch staled, publish what it appended */
	settle(effects: Effects): Promise<void>;
	report: ConsumerReport;
	policy?: ConsumerPolicy;
	/** the clock, for propagation times */
	now?(): number;
	/** tests only: makes handlers fail on demand */
	faults?: FaultInjector;
	/**
	 * The schema check of a consumed payload (lib/domain/event-schema.ts), delivered as the event
	 * `name` when known: what is wrong with it, nothing when it may be applied. Without it every
	 * payload is taken as an event (the engine's own tests).
	 */
	check?(payload: unknown, name?: string): string[];
}

/**
 * What every step reads of the engine it runs in: the policy, the clock, whether the engine is
 * stopping (the engine's lifecycle owns that flag) and whether the consumer is paused (the pause
 * gate's); a step only looks at them.
 */
export interface StepContext {
	policy: ConsumerPolicy;
	now(): number;
	stopping(): boolean;
	/** the consumer is paused: it takes no events (lib/consumer/pause-gate.ts owns that state) */
	paused(): boolean;
}
