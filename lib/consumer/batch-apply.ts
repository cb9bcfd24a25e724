/**
 * Applying a batch of a producer's events inside the caller's transaction: the step every other
 * step uses (live events, catch-up pages, snapshot pages).
 *
 * A batch is applied set-based, without a savepoint; only if it fails is its transaction redone
 * with the events one at a time, each in a savepoint, so that only the failing event goes to the
 * durable retry table (in the transaction that moves the checkpoint past it). Nothing here moves
 * a checkpoint: the caller does, in the same transaction.
 */
import { Errors } from "moleculer";
import { requestTag } from "../domain/caused-by";
import { type DomainEvent, describeEvent } from "../domain/events";
import { mergeEffects, noEffects } from "../event-log/effects";
import type { Closing } from "../storage/copy-table";
import type { Sql } from "../storage/sql";
import type { ConsumerDeps } from "./consumer-deps";
import type { BatchResult } from "./projection";
import type { PauseState } from "./pause-rules";

/** A batch's outcome: what the projection applied or skipped, and the events that failed (now in the retry table). */
export interface Applied<E extends DomainEvent> extends BatchResult<E> {
	failed: Array<{ event: E; error: unknown }>;
	/** the pause this batch's failures put the consumer in, once committed (lib/consumer/pauses.ts) */
	pause?: PauseState | null;
}

/** A delivery's events after the fault check: those to apply, those that already failed. */
export interface Checked<E extends DomainEvent> {
	ready: E[];
	failed: Array<{ event: E; error: unknown }>;
}

/** A batch failed as a whole: the transaction is undone and the batch tried one by one (never leaves the engine). */
class BatchFailedError extends Errors.MoleculerError {
	constructor(reason: unknown) {
		super(`A batch of events failed: ${String(reason)}`, 500, "BATCH_FAILED");
		this.name = "BatchFailedError";
	}
}

/** An event as log lines name it: `clients #12 UPDATED (entity 5, v3) [request …]`. */
export function describe(event: DomainEvent): string {
	return `${describeEvent(event)}${requestTag(event)}`;
}

export class BatchApplier<E extends DomainEvent> {
	/**
	 * @param failuresRecorded told when failures went to the retry table, with the delay of the
	 *   soonest of their retries (the retry step then looks at the table in time)
	 */
	constructor(
		private readonly deps: ConsumerDeps<E>,
		private readonly failuresRecorded: (soonestMs: number) => void,
		/** told after commit when a batch's failures paused the consumer (lib/consumer/pause-gate.ts) */
		private readonly pausedHere: (pause: PauseState) => void = () => undefined,
	) {}

	/**
	 * Run a transaction that applies a batch; if the batch itself failed, run it again with its
	 * events one by one. The first try carries no savepoint: on PostgreSQL each costs two round
	 * trips, paid only on this failure path.
	 */
	async withFallback<T>(attempt: (oneByOne: boolean) => Promise<T>): Promise<T> {
		try {
			return await attempt(false);
		} catch (err) {
			if (!(err instanceof BatchFailedError)) throw err;
			return attempt(true);
		}
	}

	/** Injected faults (tests only), checked once per delivery whatever the tries: sorted by sequence. */
	checkFaults(events: E[]): Checked<E> {
		const { projection, faults } = this.deps;
		const checked: Checked<E> = { ready: [], failed: [] };
		for (const event of [...events].sort((a, b) => a.sequence - b.sequence)) {
			try {
				faults?.checkApply(projection.entityOf(event));
				checked.ready.push(event);
			} catch (error) {
				checked.failed.push({ event, error });
			}
		}
		return checked;
	}

	/**
	 * Apply events inside `sql`'s transaction: the whole batch at once (a failure throws
	 * BatchFailedError, undoing the transaction), or one by one, each in a savepoint. Every
	 * failure is recorded in the retry table here.
	 *
	 * `closing` (the checkpoint's move): offered to the projection when nothing will run after its
	 * save here (the whole batch at once, no failure to record, no failure streak to reset), so
	 * that its statement ends the transaction, COMMIT and all (on PostgreSQL a copy projection
	 * then sends the whole transaction as one statement). `closed` says whether it did; then the
	 * transaction is committed when this resolves.
	 */
	async apply(sql: Sql, checked: Checked<E>, oneByOne: boolean, closing?: Closing): Promise<Applied<E>> {
		const { projection, retries, producer, pauses } = this.deps;
		const failed = [...checked.failed];
		let result: BatchResult<E> = { applied: [], stale: [], effects: noEffects() };
		if (checked.ready.length > 0 && !oneByOne) {
			// Decided now, once: a streak another lane starts meanwhile is counted after this batch.
			const ends = closing && failed.length === 0 && !pauses?.countsSuccess ? closing : undefined;
			try {
				result = await projection.applyBatch(sql, checked.ready, ends);
			} catch (err) {
				throw new BatchFailedError(err);
			}
			// committed with the closing: a success needs no count (decided above), nothing else runs
			if (result.closed) return { ...result, failed, pause: null };
		} else if (checked.ready.length > 0) {
			const results: BatchResult<E>[] = [];
			for (const event of checked.ready) {
				try {
					results.push(await sql.savepoint(() => projection.applyBatch(sql, [event])));
				} catch (error) {
					failed.push({ event, error });
				}
			}
			result = {
				applied: results.flatMap((one) => one.applied),
				stale: results.flatMap((one) => one.stale),
				effects: mergeEffects(results.map((one) => one.effects)),
			};
		}
		// in log order: the order in which any transaction takes their locks (RetryStore.record)
		failed.sort((a, b) => a.event.sequence - b.event.sequence);
		// the retry step looks at the table when the soonest of these is due (jitter may bring it before the schedule)
		let soonest = Number.POSITIVE_INFINITY;
		for (const { event, error } of failed) {
			const delay = await retries.record(sql, producer, event, error);
			if (delay !== null) soonest = Math.min(soonest, delay);
		}
		if (soonest !== Number.POSITIVE_INFINITY) this.failuresRecorded(soonest);
		const pause = await this.countOutcomes(sql, [...checked.ready, ...checked.failed.map(({ event }) => event)], failed);
		return { ...result, failed, pause };
	}

	/**
	 * The batch's events, in log order, as the consumer's consecutive failures count them (applied
	 * or stale: a success; failed: a failure), in its transaction. The pause it caused, if any.
	 */
	async countOutcomes(sql: Sql, events: readonly E[], failed: Applied<E>["failed"]): Promise<PauseState | null> {
		const { pauses } = this.deps;
		if (!pauses || events.length === 0) return null;
		// all applied: one success says as much (and costs no sort on the hot path)
		if (failed.length === 0) return pauses.count(sql, [true], "");
		const failedIds = new Set(failed.map(({ event }) => event.eventId));
		const outcomes = [...events].sort((a, b) => a.sequence - b.sequence).map((event) => !failedIds.has(event.eventId));
		const last = failed[failed.length - 1];
		return pauses.count(sql, outcomes, last ? String(last.error) : "");
	}

	/** A committed batch in the metrics and the log (and a pause it caused, to the pause gate). */
	report(applied: Applied<E>): void {
		const { report } = this.deps;
		if (applied.pause) this.pausedHere(applied.pause);
		report.applied(applied.applied.length);
		report.stale(applied.stale.length);
		report.failed(applied.failed.length);
		if (report.debug) for (const event of applied.applied) report.debug(`Applied ${describe(event)}.`);
		for (const { event, error } of applied.failed) {
			report.warn(`${describe(event)} failed (${String(error)}); retrying with backoff.`);
		}
	}
}
