/**
 * The consumer engine: keeps a projection of a producer's entities from its events, with its
 * database, log reader, clock, policy and reporting handed in (lib/consumer/consumer-deps.ts;
 * mixins/event-consumer.mixin.ts wires it to a Moleculer service). This file is its lifecycle and
 * its public face; each step lives in a file of its own, with the state only it changes:
 *
 * - live-apply.ts: live events, a batch per partition and transaction, with the checkpoint;
 * - catch-up.ts: the log after the checkpoint, a page per transaction (on start, on a timer,
 *   after a gap in the live events);
 * - snapshot-runs.ts: a bootstrap (no checkpoint) or a rebuild from the producer's snapshot, run
 *   in catch-up's turn;
 * - retry-runner.ts: due retries re-applied with backoff, dead letters after the last attempt;
 * - pause-gate.ts: the consumer's pause (an operator's, or its own after consecutive failures),
 *   during which the others take no events, and the one event tried when a pause is due to end;
 * - batch-apply.ts: what they share, a batch applied set-based, one by one only if it fails.
 *
 * Nothing here throws at the transporter: Moleculer would ack the message anyway
 * (moleculerjs/moleculer#605). A transaction that fails leaves the checkpoint where it was,
 * and catch-up reads those events again.
 */
import type { DomainEvent } from "../domain/events";
import { BatchApplier } from "./batch-apply";
import { CatchUp } from "./catch-up";
import { CONSUMER_POLICY, type ConsumerDeps, type StepContext } from "./consumer-deps";
import { LiveApply, type LiveOutcome } from "./live-apply";
import { PauseGate } from "./pause-gate";
import type { PauseState } from "./pause-rules";
import { RetryRunner } from "./retry-runner";
import { type SnapshotProgress, SnapshotRuns } from "./snapshot-runs";

// the engine's public face, as its owner and tests know it
export { CONSUMER_POLICY, type ConsumerDeps, type ConsumerPolicy, type ConsumerReport } from "./consumer-deps";
export type { SnapshotProgress } from "./snapshot-runs";
export type { LiveOutcome } from "./live-apply";

/** What the lifecycle changes: whether the engine is stopping, and its periodic timers. */
interface Lifecycle {
	stopping: boolean;
	timers: NodeJS.Timeout[];
}

export class ConsumerEngine<E extends DomainEvent> {
	private readonly lifecycle: Lifecycle = { stopping: false, timers: [] };
	private readonly context: StepContext;
	private readonly liveApply: LiveApply<E>;
	private readonly catchUp: CatchUp<E>;
	private readonly snapshots: SnapshotRuns<E>;
	private readonly retries: RetryRunner<E>;
	private readonly gate: PauseGate<E>;

	constructor(deps: ConsumerDeps<E>) {
		this.context = {
			policy: deps.policy ?? CONSUMER_POLICY,
			now: deps.now ?? Date.now,
			stopping: () => this.lifecycle.stopping,
			paused: () => this.gate.paused(),
		};
		const pausedHere = (pause: PauseState) => this.gate.adopt(pause, true);
		this.retries = new RetryRunner(deps, this.context, pausedHere);
		const batches = new BatchApplier(deps, (soonestMs) => this.retries.wake(soonestMs), pausedHere);
		this.gate = new PauseGate(deps, this.context, batches);
		this.snapshots = new SnapshotRuns(deps, this.context, batches);
		this.catchUp = new CatchUp(deps, this.context, batches, this.snapshots);
		this.liveApply = new LiveApply(deps, this.context, batches, (reason) => void this.catchUp.request(reason));
	}

	/**
	 * Read the consumer's pause (a replica starting while it lasts starts paused), then start the
	 * periodic catch-up, retry and pause timers; the owner asks for the first catch-up.
	 */
	async start(catchUpIntervalMs: number, requestCatchUp: (reason: string) => void): Promise<void> {
		this.lifecycle.stopping = false;
		await this.gate.read();
		this.lifecycle.timers = [
			setInterval(() => requestCatchUp("timer"), catchUpIntervalMs),
			setInterval(() => void this.retries.process(), this.context.policy.retryPollMs),
			setInterval(() => void this.gate.look(), this.context.policy.pauseLookMs),
		];
		for (const timer of this.lifecycle.timers) timer.unref();
	}

	/** Stop taking work and wait for what runs to finish (applied and committed). */
	async stop(): Promise<void> {
		this.lifecycle.stopping = true;
		for (const timer of this.lifecycle.timers) clearInterval(timer);
		await Promise.all([this.liveApply.stop(), this.catchUp.idle(), this.retries.idle(), this.gate.idle()]);
	}

	/**
	 * A live event (delivered as `name`): resolves `taken` once it is applied (or recorded for
	 * retry, or refused by the schema check and dead-lettered) and committed, or at once when the
	 * backlog is full (catch-up then reads it from the log); `handedBack` while the consumer is
	 * paused (not applied: its delivery goes back to its queue). Never rejects.
	 */
	live(event: E, name?: string): Promise<LiveOutcome> {
		return this.liveApply.live(event, name);
	}

	/** The consumer's pause as this replica knows it. */
	pauseState(): PauseState {
		return this.gate.current();
	}

	/**
	 * A pause state this replica decided (an operator's call it served) or was told of: adopted
	 * now, as the periodic look would within a second.
	 */
	adoptPause(pause: PauseState, decidedHere: boolean): void {
		this.gate.adopt(pause, decidedHere);
	}

	/** Read the consumer's pause now (another replica changed it), and try one event if one is due. */
	lookAtPause(): Promise<void> {
		return this.gate.look();
	}

	/** Start a catch-up, or mark that another is wanted if one is running. */
	requestCatchUp(reason: string): Promise<void> {
		return this.catchUp.request(reason);
	}

	/**
	 * Rebuild the projection from the producer's snapshot, then the log after it, while the node
	 * keeps serving (readers see each row go from its old state to its rebuilt one, never an empty
	 * or truncated copy). Runs in the catch-up's turn, so never beside a catch-up or bootstrap;
	 * answers at once with the rebuild's progress (running), which `snapshotProgress` follows.
	 */
	rebuild(): SnapshotProgress {
		const { progress, started } = this.snapshots.askRebuild();
		if (started) void this.catchUp.request("rebuild");
		return progress;
	}

	/** The running or last bootstrap or rebuild of this node, or null. */
	snapshotProgress(): SnapshotProgress | null {
		return this.snapshots.progress();
	}

	/** Look at the retry table within `inMs` (a failure was just recorded, or an operator revived one). */
	wakeRetries(inMs = 0): void {
		this.retries.wake(inMs);
	}

	/** Re-apply the retries that are due (the retry timer calls it; tests call it directly). */
	processRetries(): Promise<void> {
		return this.retries.process();
	}
}
