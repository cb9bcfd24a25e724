/**
 * Snapshot runs: a bootstrap (a consumer with no checkpoint, new or reset) or a rebuild (of the
 * projection held, in place) from the producer's snapshot at some sequence S, a page of entities
 * per transaction. The log after S is read next by catch-up (lib/consumer/catch-up.ts), in whose
 * turn every run happens, so never beside a catch-up or another run.
 */
import { Errors } from "moleculer";
import type { DomainEvent } from "../domain/events";
import { pageRange, progressDue, progressLine, type SnapshotMode, type SnapshotPage } from "../domain/snapshot";
import { mergeEffects } from "../event-log/effects";
import type { Applied, BatchApplier, Checked } from "./batch-apply";
import type { ConsumerDeps, StepContext } from "./consumer-deps";
import type { Projection } from "./projection";

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

/** What this step changes, and nothing else does. */
interface SnapshotState {
	/** the running or last bootstrap or rebuild */
	run: SnapshotProgress | null;
	/** a rebuild was asked for: the next catch-up turn does it first */
	rebuildWanted: boolean;
}

export class SnapshotRuns<E extends DomainEvent> {
	private readonly state: SnapshotState = { run: null, rebuildWanted: false };

	constructor(
		private readonly deps: ConsumerDeps<E>,
		private readonly context: StepContext,
		private readonly batches: BatchApplier<E>,
	) {}

	/** Whether a consumer with no checkpoint can start from a snapshot (else it replays the log from its start). */
	get canBootstrap(): boolean {
		return this.deps.readSnapshot !== undefined;
	}

	/**
	 * Ask for a rebuild: the running run's progress if one runs (`started` false), else a new
	 * rebuild's, marked for the next catch-up turn (`started` true: the caller asks for that turn).
	 */
	askRebuild(): { progress: SnapshotProgress; started: boolean } {
		if (!this.deps.readSnapshot || !this.deps.projection.rebuildPage || !this.deps.projection.removeCopies) {
			throw new Errors.MoleculerError(`The ${this.deps.producer} consumer cannot rebuild: no snapshot reader or rebuild support`, 500, "REBUILD_UNSUPPORTED");
		}
		const state = this.state;
		if (state.run?.state === "running") return { progress: { ...state.run }, started: false };
		state.run = this.newRun("rebuild");
		state.rebuildWanted = true;
		return { progress: { ...state.run }, started: true };
	}

	/** Whether a rebuild was asked for since the last look (a catch-up turn takes it). */
	takeRebuildWanted(): boolean {
		const wanted = this.state.rebuildWanted;
		this.state.rebuildWanted = false;
		return wanted;
	}

	/** The running or last bootstrap or rebuild of this node, or null. */
	progress(): SnapshotProgress | null {
		return this.state.run ? { ...this.state.run } : null;
	}

	/** Events of the log applied on top of a running snapshot (the catch-up that follows it). */
	caughtUp(count: number): void {
		if (this.state.run?.state === "running") this.state.run.caughtUp += count;
	}

	/** The running run ended otherwise than done: failed (with its error) or interrupted by a stop. */
	ended(state: "done" | "failed" | "interrupted", err?: unknown): void {
		const run = this.state.run;
		if (run?.state !== "running") return;
		run.state = state;
		run.finishedAt = new Date(this.context.now()).toISOString();
		if (err !== undefined) run.error = (err as Error).message ?? String(err);
	}

	/** A run and the log after it are done: its closing line, logged. */
	finish(run: SnapshotProgress): void {
		const seconds = (this.context.now() - Date.parse(run.startedAt)) / 1000;
		const verb = run.mode === "bootstrap" ? "Bootstrapped" : "Rebuilt";
		run.line =
			`${verb} ${this.copyName()} from snapshot at #${run.atSequence}: ${run.entities.toLocaleString("en-US")} entities ` +
			`(${run.written.toLocaleString("en-US")} written, ${run.removed.toLocaleString("en-US")} removed), ` +
			`then ${run.caughtUp.toLocaleString("en-US")} event(s) of the log after it, in ${seconds.toFixed(1)} s.`;
		if (run.atSequence || run.mode === "rebuild") this.deps.report.info(run.line);
		this.ended("done");
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
	async run(mode: SnapshotMode): Promise<SnapshotProgress | null> {
		const { producer, db, checkpoints, report, projection } = this.deps;
		const { policy } = this.context;
		const batches = this.batches;
		const readSnapshot = this.deps.readSnapshot as NonNullable<ConsumerDeps<E>["readSnapshot"]>;
		const size = policy.snapshotPageSize;
		if (mode === "bootstrap" || this.state.run?.state !== "running") this.state.run = this.newRun(mode);
		const run = this.state.run as SnapshotProgress;
		let page = await readSnapshot(undefined, 0, size);
		const at = page.atSequence;
		run.atSequence = at;
		run.total = page.total ?? null;
		let after = 0;
		let loggedAt = this.context.now();
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
			const result = await batches.withFallback((oneByOne) =>
				db.transaction(async (sql) => {
					let applied: Applied<E>;
					if (mode === "rebuild") {
						const rebuilt = await (projection.rebuildPage as NonNullable<Projection<E>["rebuildPage"]>)(sql, events, range);
						absent.push(...rebuilt.absent);
						applied = { ...rebuilt, failed: [] };
					} else {
						checked ??= batches.checkFaults(events);
						applied = await batches.apply(sql, checked, oneByOne);
					}
					if (last) await checkpoints.placeAt(sql, producer, at);
					return applied;
				}),
			);
			report.snapshotRead?.(events.length);
			batches.report(result);
			await this.deps.settle(result.effects);
			run.entities += events.length;
			run.written += result.applied.length;
			run.line = progressLine(mode, this.copyName(), at, run.entities, run.total ?? undefined);
			if (last) break;
			if (progressDue(loggedAt, this.context.now(), policy.progressEveryMs)) {
				say(run.line);
				loggedAt = this.context.now();
			}
			if (this.context.stopping()) {
				this.ended("interrupted");
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
			const tail = await this.deps.readLog(at, policy.pageSize);
			const checked = batches.checkFaults(tail.events);
			const result = await batches.withFallback((oneByOne) =>
				db.transaction(async (sql) => {
					const removed = await (projection.removeCopies as NonNullable<Projection<E>["removeCopies"]>)(sql, absent);
					const applied = await batches.apply(sql, checked, oneByOne);
					await checkpoints.rewindTo(sql, producer, at);
					return { ...applied, effects: mergeEffects([removed, applied.effects]) };
				}),
			);
			batches.report(result);
			await this.deps.settle(result.effects);
			const restored = new Set(result.applied.map((event) => projection.entityOf(event)));
			run.removed = absent.filter((id) => !restored.has(id)).length;
			run.caughtUp += result.applied.length;
		}
		return run;
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
			startedAt: new Date(this.context.now()).toISOString(),
			finishedAt: null,
			error: null,
			line: "",
		};
	}

	private copyName(): string {
		return this.deps.copyName ?? `the copy of ${this.deps.producer}`;
	}
}
