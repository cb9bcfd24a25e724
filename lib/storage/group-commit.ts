/**
 * Group commit for SQLite's one writer.
 *
 * A commit costs an fsync (WAL, synchronous FULL); one transaction per request caps writes at
 * what the disk does per second. Here concurrent writes share commits: whatever queued while
 * the last COMMIT ran becomes the next transaction, each write in its own savepoint (a write
 * alone needs none), and each is answered only after the shared COMMIT, so a success still
 * means "on disk".
 * - A write that throws (409, 422, a bug) rolls back its own savepoint and nothing else (alone,
 *   its transaction).
 * - A COMMIT that fails fails every write of its batch: none of them is on disk.
 * - Bounded: a full queue, or a write that waited longer than `timeoutMs` before its turn,
 *   is refused with a 503 and writes nothing.
 */
import { DatabaseBusyError } from "../errors";
import type { Sql } from "./sql";

export interface GroupCommitOptions {
	/** writes per transaction at most */
	maxBatch: number;
	/** writes waiting at most; beyond that a write is refused at once */
	maxQueue: number;
	/** how long a write may wait for its turn before it is refused */
	timeoutMs: number;
}

export const GROUP_COMMIT_DEFAULTS: GroupCommitOptions = { maxBatch: 200, maxQueue: 5000, timeoutMs: 5000 };

interface Job {
	work: (sql: Sql) => Promise<unknown>;
	resolve(value: unknown): void;
	reject(err: unknown): void;
	/** refuses the write if it is still queued when its wait is up */
	timer?: NodeJS.Timeout;
}

type Outcome = { job: Job; ok: true; value: unknown } | { job: Job; ok: false; error: unknown };

export class GroupCommitter {
	private queue: Job[] = [];
	private running: Promise<void> | null = null;
	private closed = false;

	constructor(
		private readonly sql: Sql,
		private readonly options: GroupCommitOptions = GROUP_COMMIT_DEFAULTS,
	) {}

	/** Run `work` in the next shared transaction; resolves after that transaction's COMMIT. */
	run<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
		if (this.closed) return Promise.reject(new DatabaseBusyError("the database is closing"));
		if (this.queue.length >= this.options.maxQueue) {
			return Promise.reject(new DatabaseBusyError(`${this.queue.length} writes are already waiting`));
		}
		return new Promise<T>((resolve, reject) => {
			const job: Job = { work, resolve: resolve as (value: unknown) => void, reject };
			job.timer = setTimeout(() => {
				this.queue = this.queue.filter((queued) => queued !== job);
				reject(new DatabaseBusyError(`a write waited ${this.options.timeoutMs} ms for its turn`));
			}, this.options.timeoutMs);
			job.timer.unref();
			this.queue.push(job);
			this.kick();
		});
	}

	/**
	 * Drain the queue unless a drain runs. A write queued while a drain is finishing (after its
	 * last look at the queue) is picked up by the drain that its `finally` starts.
	 */
	private kick(): void {
		if (this.running) return;
		this.running = this.drain().finally(() => {
			this.running = null;
			if (this.queue.length > 0) this.kick();
		});
	}

	/** Refuse new writes and wait for the queued ones to commit. */
	async close(): Promise<void> {
		this.closed = true;
		while (this.running) await this.running;
	}

	private async drain(): Promise<void> {
		while (this.queue.length > 0) {
			// taken from the queue and its timer cleared in one step: a write in a batch cannot expire
			const batch = this.queue.splice(0, this.options.maxBatch);
			for (const job of batch) clearTimeout(job.timer);
			await this.commitBatch(batch);
		}
	}

	private async commitBatch(batch: Job[]): Promise<void> {
		if (batch.length === 0) return;
		const outcomes: Outcome[] = [];
		try {
			// IMMEDIATE: take the write lock now, not at the first write (no upgrade deadlock)
			await this.sql.run("BEGIN IMMEDIATE");
		} catch (error) {
			for (const job of batch) job.reject(error);
			return;
		}
		try {
			if (batch.length === 1) {
				// one write: the transaction is its own savepoint (two statements fewer, each a hop to
				// sqlite3's worker thread); if it throws, the ROLLBACK below undoes it alone
				const [job] = batch;
				outcomes.push({ job, ok: true, value: await job.work(this.sql) });
			} else {
				for (const job of batch) {
					try {
						outcomes.push({ job, ok: true, value: await this.sql.savepoint(() => job.work(this.sql)) });
					} catch (error) {
						outcomes.push({ job, ok: false, error });
					}
				}
			}
			await this.sql.run("COMMIT");
		} catch (error) {
			// a lone write threw, a savepoint could not be undone, or the COMMIT failed: nothing of this batch is kept
			await this.sql.run("ROLLBACK").catch(() => undefined);
			for (const job of batch) {
				const own = outcomes.find((outcome) => outcome.job === job);
				job.reject(own && !own.ok ? own.error : error);
			}
			return;
		}
		for (const outcome of outcomes) {
			if (outcome.ok) outcome.job.resolve(outcome.value);
			else outcome.job.reject(outcome.error);
		}
	}
}
