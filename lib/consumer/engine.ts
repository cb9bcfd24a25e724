/**
 * The consumer engine: keeps a projection of a producer's entities from its events, with its
 * database, log reader, clock, policy and reporting handed in (mixins/event-consumer.mixin.ts
 * wires it to a Moleculer service).
 *
 * - Live events are gathered per partition (entity id modulo `partitions`) and applied a batch
 *   per transaction, together with the checkpoint (lib/consumer/live-apply.ts).
 * - Catch-up reads the producer's log after the checkpoint a page at a time (never more than a
 *   page in memory), each page one transaction. A consumer with no checkpoint (new, or reset)
 *   first applies the producer's snapshot at some sequence S, a page of entities per
 *   transaction, then reads the log after S (a bootstrap). A rebuild does the same over the
 *   projection it holds, in place (see rebuild()).
 * - A batch is applied set-based, one event at a time only if it fails, so that only the failing
 *   event goes to the durable retry table (lib/consumer/batch-apply.ts). Due retries are
 *   re-applied with backoff (lib/consumer/retry-runner.ts); after the last attempt the event is a
 *   dead letter (lib/consumer/retries.ts).
 * - Nothing here throws at the transporter: Moleculer would ack the message anyway
 *   (moleculerjs/moleculer#605). A transaction that fails leaves the checkpoint where it was,
 *   and catch-up reads those events again.
 */
import { Errors } from "moleculer";
import { type Applied, BatchApplier, type Checked } from "./batch-apply";
import { LiveApply } from "./live-apply";
import { RetryRunner } from "./retry-runner";
import { CONSUMER_POLICY, type ConsumerDeps, type ConsumerPolicy } from "./consumer-deps";
import { mergeEffects } from "../event-log/effects";
import type { DomainEvent } from "../domain/events";
import type { Projection } from "./projection";
import { pageRange, progressDue, progressLine, type SnapshotMode, type SnapshotPage, startsFromSnapshot } from "../domain/snapshot";

// the engine's public face, as its owner and tests know it
export { CONSUMER_POLICY, type ConsumerDeps, type ConsumerPolicy, type ConsumerReport } from "./consumer-deps";

/** A bootstrap or rebuild from a snapshot: where it is, or how it ended (the REPL and the admin route show it). */
export interface SnapshotProgress {
	mode: SnapshotMode;
	state: "running" | "done" | "failed" | "interrupted";
	/** the snapshot's sequence, once its first page is read */
	atSequence: number | null;
	/** entities of the snapshot read so far, and in all (once known) */
	entities: number;
	total: number | null;
	/** rows the snapshot changed (written over, or new) */
	written: number;
	/** rows the snapshot did not have, removed (a rebuild) */
	removed: number;
	/** events of the log after the snapshot applied on top (the catch-up that follows) */
	caughtUp: number;
	startedAt: string;
	finishedAt: string | null;
	error: string | null;
	/** the last progress line */
	line: string;
}

export class ConsumerEngine<E extends DomainEvent> {
	private readonly policy: ConsumerPolicy;
	private readonly now: () => number;
	private readonly liveApply: LiveApply<E>;
	private readonly batches: BatchApplier<E>;
	private stopping = false;
	private catchUpRunning: Promise<void> | null = null;
	private catchUpAgain = false;
	/** a rebuild was asked for: the next catch-up run does it first */
	private rebuildWanted = false;
	/** the running or last bootstrap or rebuild */
	private snapshotRun: SnapshotProgress | null = null;
	private readonly retries: RetryRunner<E>;
	private timers: NodeJS.Timeout[] = [];

	constructor(private readonly deps: ConsumerDeps<E>) {
		this.policy = deps.policy ?? CONSUMER_POLICY;
		this.now = deps.now ?? Date.now;
		this.retries = new RetryRunner(deps, { policy: this.policy, now: this.now, stopping: () => this.stopping });
		this.batches = new BatchApplier(deps, (firstDelayMs) => this.retries.wake(firstDelayMs));
		this.liveApply = new LiveApply(
			deps,
			{ policy: this.policy, now: this.now, stopping: () => this.stopping },
			this.batches,
			(reason) => void this.requestCatchUp(reason),
		);
	}

	/** Start the periodic catch-up and retry timers; the owner asks for the first catch-up. */
	async start(catchUpIntervalMs: number, requestCatchUp: (reason: string) => void): Promise<void> {
		this.stopping = false;
		this.timers = [setInterval(() => requestCatchUp("timer"), catchUpIntervalMs), setInterval(() => void this.retries.process(), this.policy.retryPollMs)];
		for (const timer of this.timers) timer.unref();
	}

	/** Stop taking work and wait for what runs to finish (applied and committed). */
	async stop(): Promise<void> {
		this.stopping = true;
		for (const timer of this.timers) clearInterval(timer);
		await Promise.all([this.liveApply.stop(), this.catchUpRunning, this.retries.idle()]);
	}

	/**
	 * A live event (delivered as `name`): resolves once it is applied (or recorded for retry, or
	 * refused by the schema check and dead-lettered) and committed, or at once when the backlog is
	 * full (catch-up then reads it from the log). Never rejects.
	 */
	live(event: E, name?: string): Promise<void> {
		return this.liveApply.live(event, name);
	}

	/** Start a catch-up, or mark that another is wanted if one is running. */
	requestCatchUp(reason: string): Promise<void> {
		if (this.stopping) return Promise.resolve();
		if (this.catchUpRunning) {
			this.catchUpAgain = true;
			return this.catchUpRunning;
		}
		const run = async () => {
			do {
				this.catchUpAgain = false;
				try {
					const rebuilding = this.rebuildWanted;
					this.rebuildWanted = false;
					const applied = rebuilding ? await this.rebuildThenCatchUp() : await this.catchUp();
					if (applied > 0) {
						this.deps.report.catchUpRun();
						this.deps.report.info(`Caught up ${applied} ${this.deps.producer} event(s) (${reason}).`);
					}
				} catch (err) {
					this.snapshotEnded("failed", err);
					this.deps.report.warn(`Catch-up from ${this.deps.producer} failed (${(err as Error).message}); retrying on the next tick.`);
					return;
				}
			} while (this.catchUpAgain && !this.stopping);
		};
		this.catchUpRunning = run().finally(() => {
			this.catchUpRunning = null;
		});
		return this.catchUpRunning;
	}

	/**
	 * Read and apply the log after the checkpoint, a page per transaction; with no checkpoint,
	 * start from the producer's snapshot. Returns how many events changed something.
	 */
	private async catchUp(): Promise<number> {
		const { producer, db, checkpoints, report } = this.deps;
		const policy = this.policy;
		const checkpoint = await checkpoints.find(producer);
		let after = checkpoint ?? 0;
		let appliedTotal = 0;
		let boot: SnapshotProgress | null = null;
		if (startsFromSnapshot(checkpoint)) {
			if (this.deps.readSnapshot) {
				boot = await this.fromSnapshot("bootstrap");
				if (boot === null) return 0;
				after = boot.atSequence ?? 0;
				appliedTotal += boot.written;
			} else {
				// no snapshot to start from: follow the log from its start
				await db.transaction((sql) => checkpoints.placeAt(sql, producer, 0));
			}
		}
		while (!this.stopping) {
			const page = await this.deps.readLog(after, policy.pageSize);
			if (page.events.length === 0) break;
			const last = page.events[page.events.length - 1].sequence;
			// faults are checked once, for the events the first try finds fresh (a redo finds fewer)
			let checked: Checked<E> | undefined;
			const applied = await this.batches.withFallback((oneByOne) =>
				db.transaction(async (sql) => {
					// live events may have moved the checkpoint since the page was read: skip what
					// they took care of (a failed one is in the retry table already)
					const current = await checkpoints.get(sql, producer);
					checked ??= this.batches.checkFaults(page.events.filter((event) => event.sequence > current));
					const fresh: Checked<E> = {
						ready: checked.ready.filter((event) => event.sequence > current),
						failed: checked.failed.filter(({ event }) => event.sequence > current),
					};
					const applied = await this.batches.apply(sql, fresh, oneByOne);
					await checkpoints.moveTo(sql, producer, last);
					return { ...applied, stale: [...applied.stale, ...page.events.filter((event) => event.sequence <= current)] };
				}),
			);
			report.caughtUp(page.events.length);
			this.batches.report(applied);
			await this.deps.settle(applied.effects);
			appliedTotal += applied.applied.length;
			if (this.snapshotRun?.state === "running") this.snapshotRun.caughtUp += applied.applied.length;
			after = last;
			if (page.events.length < policy.pageSize) break;
		}
		if (boot && !this.stopping) this.finishRun(boot);
		return appliedTotal;
	}

	/**
	 * Rebuild the projection from the producer's snapshot, then the log after it, while the node
	 * keeps serving (readers see each row go from its old state to its rebuilt one, never an empty
	 * or truncated copy). Runs in the catch-up's turn, so never beside a catch-up or bootstrap;
	 * answers at once with the rebuild's progress (running), which `snapshotProgress` follows.
	 */
	rebuild(): SnapshotProgress {
		if (!this.deps.readSnapshot || !this.deps.projection.rebuildPage || !this.deps.projection.removeCopies) {
			throw new Errors.MoleculerError(`The ${this.deps.producer} consumer cannot rebuild: no snapshot reader or rebuild support`, 500, "REBUILD_UNSUPPORTED");
		}
		if (this.snapshotRun?.state === "running") return { ...this.snapshotRun };
		this.snapshotRun = this.newRun("rebuild");
		this.rebuildWanted = true;
		void this.requestCatchUp("rebuild");
		return { ...this.snapshotRun };
	}

	/** The running or last bootstrap or rebuild of this node, or null. */
	snapshotProgress(): SnapshotProgress | null {
		return this.snapshotRun ? { ...this.snapshotRun } : null;
	}

	private newRun(mode: SnapshotMode): SnapshotProgress {
		return {
			mode,
			state: "running",
			atSequence: null,
			entities: 0,
			total: null,
			written: 0,
			removed: 0,
			caughtUp: 0,
			startedAt: new Date(this.now()).toISOString(),
			finishedAt: null,
			error: null,
			line: "",
		};
	}

	private snapshotEnded(state: "done" | "failed" | "interrupted", err?: unknown): void {
		const run = this.snapshotRun;
		if (run?.state !== "running") return;
		run.state = state;
		run.finishedAt = new Date(this.now()).toISOString();
		if (err !== undefined) run.error = (err as Error).message ?? String(err);
	}

	/** A rebuild, then the log after its snapshot. */
	private async rebuildThenCatchUp(): Promise<number> {
		const run = await this.fromSnapshot("rebuild");
		if (run === null) return 0;
		const caughtUp = await this.catchUp();
		if (run.state === "running" && !this.stopping) this.finishRun(run);
		else if (this.stopping) this.snapshotEnded("interrupted");
		return run.written + caughtUp;
	}

	private finishRun(run: SnapshotProgress): void {
		const seconds = (this.now() - Date.parse(run.startedAt)) / 1000;
		const verb = run.mode === "bootstrap" ? "Bootstrapped" : "Rebuilt";
		run.line =
			`${verb} ${this.copyName()} from snapshot at #${run.atSequence}: ${run.entities.toLocaleString("en-US")} entities ` +
			`(${run.written.toLocaleString("en-US")} written, ${run.removed.toLocaleString("en-US")} removed), ` +
			`then ${run.caughtUp.toLocaleString("en-US")} event(s) of the log after it, in ${seconds.toFixed(1)} s.`;
		if (run.atSequence || run.mode === "rebuild") this.deps.report.info(run.line);
		this.snapshotEnded("done");
	}

	private copyName(): string {
		return this.deps.copyName ?? `the copy of ${this.deps.producer}`;
	}

	/**
	 * Apply the producer's snapshot, a page of entities per transaction, and leave the checkpoint
	 * at its sequence S (never behind it) in the last page's transaction. A bootstrap applies each
	 * entity's last event through the projection's version-guarded batch (idempotent, order-free;
	 * live events meanwhile are guarded the same way). A rebuild writes each page over what is held
	 * (a newer held row, from a live event after S, stays), and at the end removes the rows the
	 * snapshot lacked; it moves the checkpoint back to S in that same transaction, so the log after
	 * S is read again and whatever was created after S and removed with them comes back (its
	 * first page at once, in that transaction).
	 * Returns null when stopped half-way (a bootstrap then starts again next time).
	 */
	private async fromSnapshot(mode: SnapshotMode): Promise<SnapshotProgress | null> {
		const { producer, db, checkpoints, report, projection } = this.deps;
		const readSnapshot = this.deps.readSnapshot as NonNullable<ConsumerDeps<E>["readSnapshot"]>;
		const size = this.policy.snapshotPageSize;
		if (mode === "bootstrap" || this.snapshotRun?.state !== "running") this.snapshotRun = this.newRun(mode);
		const run = this.snapshotRun as SnapshotProgress;
		let page = await readSnapshot(undefined, 0, size);
		const at = page.atSequence;
		run.atSequence = at;
		run.total = page.total ?? null;
		let after = 0;
		let loggedAt = this.now();
		const absent: number[] = [];
		// an empty log (a fresh system) bootstraps in silence
		const say = (line: string) => (at > 0 || mode === "rebuild" ? report.info(line) : undefined);
		say(progressLine(mode, this.copyName(), at, 0, page.total));
		for (;;) {
			const range = pageRange(after, page.next);
			const last = page.next === null;
			const events = page.events;
			// the next page is read while this one is applied: the producer's read and our writer
			// work side by side (two pages in memory at most); its failure, if any, is met below
			const upcoming = last ? null : readSnapshot(at, page.next as number, size);
			upcoming?.catch(() => undefined);
			let checked: Checked<E> | undefined;
			const result = await this.batches.withFallback((oneByOne) =>
				db.transaction(async (sql) => {
					let applied: Applied<E>;
					if (mode === "rebuild") {
						const rebuilt = await (projection.rebuildPage as NonNullable<Projection<E>["rebuildPage"]>)(sql, events, range);
						absent.push(...rebuilt.absent);
						applied = { ...rebuilt, failed: [] };
					} else {
						checked ??= this.batches.checkFaults(events);
						applied = await this.batches.apply(sql, checked, oneByOne);
					}
					if (last) await checkpoints.placeAt(sql, producer, at);
					return applied;
				}),
			);
			report.snapshotRead?.(events.length);
			this.batches.report(result);
			await this.deps.settle(result.effects);
			run.entities += events.length;
			run.written += result.applied.length;
			run.line = progressLine(mode, this.copyName(), at, run.entities, run.total ?? undefined);
			if (last) break;
			if (progressDue(loggedAt, this.now(), this.policy.progressEveryMs)) {
				say(run.line);
				loggedAt = this.now();
			}
			if (this.stopping) {
				this.snapshotEnded("interrupted");
				return null;
			}
			after = page.next as number;
			page = await (upcoming as Promise<SnapshotPage<E>>);
		}
		if (mode === "rebuild" && absent.length > 0) {
			// Rows created by a live event after S are absent from the snapshot too, and removed with
			// the rest: the log after S is applied again in the same transaction (its first page),
			// so a reader does not see them go, and the checkpoint goes back to S, so that whatever
			// lies beyond that page is read again by the catch-up that follows.
			const tail = await this.deps.readLog(at, this.policy.pageSize);
			const checked = this.batches.checkFaults(tail.events);
			const result = await this.batches.withFallback((oneByOne) =>
				db.transaction(async (sql) => {
					const removed = await (projection.removeCopies as NonNullable<Projection<E>["removeCopies"]>)(sql, absent);
					const applied = await this.batches.apply(sql, checked, oneByOne);
					await checkpoints.rewindTo(sql, producer, at);
					return { ...applied, effects: mergeEffects([removed, applied.effects]) };
				}),
			);
			this.batches.report(result);
			await this.deps.settle(result.effects);
			const restored = new Set(result.applied.map((event) => projection.entityOf(event)));
			run.removed = absent.filter((id) => !restored.has(id)).length;
			run.caughtUp += result.applied.length;
		}
		return run;
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
