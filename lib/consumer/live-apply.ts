/**
 * Live events, as the transporter delivers them. They are gathered per partition (entity id
 * modulo `partitions`) and applied a batch per transaction, together with the checkpoint. Events
 * of one entity are always in the same partition, so never applied concurrently; events of
 * different entities are.
 *
 * Nothing here throws at the transporter: Moleculer would ack the message anyway
 * (moleculerjs/moleculer#605). A transaction that fails leaves the checkpoint where it was, and
 * catch-up reads those events again; so does an event beyond the backlog's bound. While the
 * consumer is paused an event is handed back, never applied: the mixin hands its delivery back to
 * its queue (lib/infra/delivery-hand-back.ts), and the checkpoint never passes it either.
 */
import { requestTag } from "../domain/caused-by";
import type { DomainEvent } from "../domain/events";
import { InvalidEventError } from "../errors";
import type { BatchApplier } from "./batch-apply";
import type { ConsumerDeps, StepContext } from "./consumer-deps";

/** What became of a live event: taken (applied, recorded for retry, dead-lettered, or left to catch-up), or handed back (paused). */
export type LiveOutcome = "taken" | "handedBack";

interface Waiting<E> {
	event: E;
	done(outcome: LiveOutcome): void;
}

interface Lane<E> {
	queue: Waiting<E>[];
	running: Promise<void> | null;
}

/** What this step changes, and nothing else does. */
interface LiveState<E> {
	lanes: Lane<E>[];
	/** live events queued or being applied */
	backlog: number;
	/** a catch-up asked for after a gap, not yet started (the grace lets the gap fill by itself) */
	gapTimer?: NodeJS.Timeout;
}

export class LiveApply<E extends DomainEvent> {
	private readonly state: LiveState<E>;

	/** @param requestCatchUp asked once a gap's grace is over */
	constructor(
		private readonly deps: ConsumerDeps<E>,
		private readonly context: StepContext,
		private readonly batches: BatchApplier<E>,
		private readonly requestCatchUp: (reason: string) => void,
	) {
		this.state = { lanes: Array.from({ length: context.policy.partitions }, () => ({ queue: [], running: null })), backlog: 0 };
	}

	/**
	 * A live event (delivered as `name`): resolves `taken` once it is applied (or recorded for
	 * retry, or refused by the schema check and dead-lettered) and committed, or at once when the
	 * backlog is full (catch-up then reads it from the log); `handedBack` while the consumer is
	 * paused. Never rejects.
	 */
	live(event: E, name?: string): Promise<LiveOutcome> {
		if (this.context.paused()) return Promise.resolve("handedBack");
		const problems = this.deps.check?.(event, name) ?? [];
		if (problems.length > 0) return this.reject(event, problems).then(() => "taken");
		const state = this.state;
		if (state.backlog >= this.context.policy.liveBacklogMax) {
			this.gapSeen();
			return Promise.resolve("taken");
		}
		state.backlog++;
		const lane = state.lanes[Math.abs(this.deps.projection.entityOf(event)) % state.lanes.length];
		return new Promise((done) => {
			lane.queue.push({ event, done });
			// started in a microtask, so that `running` is set before the drain can end (a paused
			// lane ends without awaiting anything) and is cleared by the drain itself
			lane.running ??= Promise.resolve().then(() => this.drainLane(lane));
		});
	}

	/** Stop the pending gap's catch-up and wait for the lanes to finish what they hold (applied and committed). */
	async stop(): Promise<void> {
		clearTimeout(this.state.gapTimer);
		await Promise.all(this.state.lanes.map((lane) => lane.running));
	}

	/**
	 * A delivery that failed its schema check: kept as a dead letter with the reasons (visible and
	 * retryable by an operator, where it fails the check again), never applied, never in a lane
	 * (its entity id may be anything), never moving the checkpoint. Never rejects.
	 */
	private async reject(payload: unknown, problems: string[]): Promise<void> {
		const { db, retries, producer, report } = this.deps;
		const error = new InvalidEventError(problems);
		try {
			await db.transaction((sql) => retries.reject(sql, producer, payload, error));
			report.rejected?.();
			report.deadLettered();
			const cause = typeof payload === "object" && payload !== null ? requestTag(payload) : "";
			report.warn(`A ${producer} event failed its schema check; dead-lettered, not applied.${cause} ${error.message}`.slice(0, 2000));
		} catch (err) {
			report.error(`Dead-lettering a ${producer} event that failed its schema check failed; it was not applied.`, err);
		}
	}

	/**
	 * Apply what the lane holds, a batch at a time, until it is empty. `running` is cleared in the
	 * same step that finds the lane empty: cleared in a later microtask (a `finally` on the drain's
	 * promise), an event queued in between by the caller that `done` woke (one awaiting its own
	 * previous event) found the lane still running and waited there for ever.
	 */
	private async drainLane(lane: Lane<E>): Promise<void> {
		try {
			while (lane.queue.length > 0) {
				const batch = lane.queue.splice(0, this.context.policy.liveBatchMax);
				// paused meanwhile (this lane's last batch, or another's, paused it): what waits goes back
				const paused = this.context.paused();
				if (!paused) await this.applyLive(batch.map((waiting) => waiting.event));
				this.state.backlog -= batch.length;
				for (const waiting of batch) waiting.done(paused ? "handedBack" : "taken");
			}
		} finally {
			lane.running = null;
		}
	}

	/**
	 * One lane's batch and the checkpoint, in one transaction. On PostgreSQL, when nothing has to
	 * run after the batch's save (lib/consumer/batch-apply.ts), the whole transaction is one
	 * statement: BEGIN, the copies held, the save, what rides with it, the checkpoint's move and
	 * COMMIT (lib/consumer/copy-projection.ts, applyInOneStatement); else the checkpoint is the
	 * transaction's last statement of its own, with the COMMIT.
	 */
	private async applyLive(events: E[]): Promise<void> {
		const { producer, db, checkpoints, report } = this.deps;
		const batches = this.batches;
		const checked = batches.checkFaults(events);
		const sequences = events.map((event) => event.sequence);
		try {
			const { applied, position } = await batches.withFallback((oneByOne) =>
				db.transaction(async (sql) => {
					const closing = checkpoints.closingAdvance(sql, producer, sequences);
					const applied = await batches.apply(sql, checked, oneByOne, closing?.closing);
					if (closing && applied.closed) return { applied, position: closing.read(applied.closed) };
					const position = await checkpoints.advance(sql, producer, sequences, { last: true });
					return { applied, position };
				}),
			);
			batches.report(applied);
			for (const event of applied.applied) report.propagation(this.context.now() - Date.parse(event.timestamp));
			await this.deps.settle(applied.effects);
			if (position === "gap") this.gapSeen();
		} catch (err) {
			// nothing was recorded and the checkpoint did not move: catch-up reads these again
			report.error(`Consuming ${producer} #${sequences.join(", ")} failed; catch-up will read them again.`, err);
			this.gapSeen();
		}
	}

	/** A gap in the live events: catch up once the grace is over, unless a catch-up is pending already. */
	private gapSeen(): void {
		const state = this.state;
		if (state.gapTimer || this.context.stopping()) return;
		state.gapTimer = setTimeout(() => {
			state.gapTimer = undefined;
			this.requestCatchUp("a gap in the live events");
		}, this.context.policy.gapGraceMs);
		state.gapTimer.unref();
	}
}
