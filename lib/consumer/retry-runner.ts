/**
 * Due retries, re-applied: an event that failed (recorded in the durable retry table by the step
 * that applied it, lib/consumer/batch-apply.ts) is tried again with backoff, one at a time, each
 * in its own transaction; after the last attempt it is a dead letter (lib/consumer/retries.ts
 * keeps the table and the schedule). Version guards make a late retry of an old event harmless.
 */
import type { DomainEvent } from "../domain/events";
import { InvalidEventError } from "../errors";
import { describe } from "./batch-apply";
import type { ConsumerDeps, StepContext } from "./consumer-deps";
import type { PauseState } from "./pause-rules";

/** What this step changes, and nothing else does. */
interface RetryState {
	running: Promise<void> | null;
	/** when the retry table is next worth reading (the next due retry, or the idle look) */
	lookAt: number;
}

export class RetryRunner<E extends DomainEvent> {
	private readonly state: RetryState = { running: null, lookAt: 0 };

	constructor(
		private readonly deps: ConsumerDeps<E>,
		private readonly context: StepContext,
		/** told after commit when a failed attempt paused the consumer */
		private readonly pausedHere: (pause: PauseState) => void = () => undefined,
	) {}

	/** Look at the retry table within `inMs` (a failure was just recorded, or an operator revived one). */
	wake(inMs = 0): void {
		this.state.lookAt = Math.min(this.state.lookAt, this.context.now() + inMs);
	}

	/**
	 * Re-apply the retries that are due; one at a time, each in its own transaction. The table
	 * is read only when a retry is due, or every `retryIdleLookMs` for what other replicas left.
	 */
	async process(): Promise<void> {
		const { state, context } = this;
		// paused: the retries wait too (they are events the consumer takes)
		if (state.running || context.stopping() || context.paused() || context.now() < state.lookAt) return;
		const { retries } = this.deps;
		// A wake that comes while this run reads the table (a failure committed after its last read)
		// lowers lookAt again; the run's end keeps the sooner of the two. Overwriting it lost such a
		// wake until the idle look, 5 s later (a retry due in 1 s ran after ~6 s).
		state.lookAt = Number.POSITIVE_INFINITY;
		const run = async () => {
			for (const id of await retries.due(context.policy.retryBatch)) {
				if (context.stopping() || context.paused()) return;
				await this.retryOne(id);
			}
			const next = await retries.nextDue();
			state.lookAt = Math.min(state.lookAt, next ? next.getTime() : Number.POSITIVE_INFINITY, context.now() + context.policy.retryIdleLookMs);
		};
		state.running = run()
			.catch((err: Error) => this.deps.report.warn(`Processing retries failed (${err.message}); trying again shortly.`))
			.finally(() => {
				state.running = null;
				// a run that failed or stopped early looks again at the idle pace at the latest
				state.lookAt = Math.min(state.lookAt, context.now() + context.policy.retryIdleLookMs);
			});
		await state.running;
	}

	/** The run in progress, if any (the engine waits for it when stopping). */
	idle(): Promise<void> | null {
		return this.state.running;
	}

	private async retryOne(id: number): Promise<void> {
		const { db, retries, projection, report, faults } = this.deps;
		const result = await db.transaction(async (sql) => {
			const row = await retries.claim(sql, id);
			if (!row) return null;
			const event = retries.event(row) as E;
			try {
				// an operator's retry of an event the schema check refused fails it again
				const problems = this.deps.check?.(event) ?? [];
				if (problems.length > 0) throw new InvalidEventError(problems);
				faults?.checkApply(projection.entityOf(event));
				const applied = await sql.savepoint(() => projection.applyBatch(sql, [event]));
				await retries.succeeded(sql, row);
				const pause = (await this.deps.pauses?.count(sql, [true], "")) ?? null;
				return { event, attempts: row.attempts, applied, error: null, status: null, pause };
			} catch (error) {
				const status = await retries.failed(sql, row, error);
				const pause = (await this.deps.pauses?.count(sql, [false], String(error))) ?? null;
				return { event, attempts: row.attempts + 1, applied: null, error, status, pause };
			}
		});
		if (!result) return;
		const { event, attempts, applied, error, status, pause } = result;
		if (pause) this.pausedHere(pause);
		report.retried();
		if (applied) {
			report.applied(applied.applied.length);
			report.stale(applied.stale.length);
			await this.deps.settle(applied.effects);
			report.info(`${describe(event)} succeeded on retry.`);
			return;
		}
		report.failed(1);
		if (status === "dead") {
			report.deadLettered();
			report.error(`${describe(event)} dead-lettered after ${attempts} attempts: ${String(error)}`);
		} else {
			report.warn(`${describe(event)} failed attempt ${attempts}; retrying with backoff.`);
		}
	}
}
