/**
 * Catch-up: read the producer's log after the checkpoint a page at a time (never more than a page
 * in memory), each page one transaction with the checkpoint. Asked for on start, on a timer, after
 * a gap in the live events and for a rebuild; one runs at a time, and one asked for meanwhile
 * runs once more after it. A consumer with no checkpoint first applies the producer's snapshot
 * (a bootstrap), and an asked-for rebuild runs first in the next turn (lib/consumer/snapshot-runs.ts).
 *
 * A turn that fails leaves the checkpoint where its last page put it; the next tick reads on
 * from there.
 */
import { startsFromSnapshot } from "../domain/snapshot";
import type { DomainEvent } from "../domain/events";
import type { BatchApplier, Checked } from "./batch-apply";
import type { ConsumerDeps, StepContext } from "./consumer-deps";
import type { SnapshotProgress, SnapshotRuns } from "./snapshot-runs";

/** What this step changes, and nothing else does. */
interface CatchUpState {
	running: Promise<void> | null;
	/** asked for again while running: one more turn after this one */
	again: boolean;
}

export class CatchUp<E extends DomainEvent> {
	private readonly state: CatchUpState = { running: null, again: false };

	constructor(
		private readonly deps: ConsumerDeps<E>,
		private readonly context: StepContext,
		private readonly batches: BatchApplier<E>,
		private readonly snapshots: SnapshotRuns<E>,
	) {}

	/** Start a catch-up, or mark that another is wanted if one is running. */
	request(reason: string): Promise<void> {
		const { state, context } = this;
		// paused: the log waits too; a resume asks for a catch-up
		if (context.stopping() || context.paused()) return Promise.resolve();
		if (state.running) {
			state.again = true;
			return state.running;
		}
		const run = async () => {
			do {
				state.again = false;
				try {
					const applied = this.snapshots.takeRebuildWanted() ? await this.rebuildThenCatchUp() : await this.catchUp();
					if (applied > 0) {
						this.deps.report.catchUpRun();
						this.deps.report.info(`Caught up ${applied} ${this.deps.producer} event(s) (${reason}).`);
					}
				} catch (err) {
					this.snapshots.ended("failed", err);
					this.deps.report.warn(`Catch-up from ${this.deps.producer} failed (${(err as Error).message}); retrying on the next tick.`);
					return;
				}
			} while (state.again && !context.stopping() && !context.paused());
		};
		state.running = run().finally(() => {
			state.running = null;
		});
		return state.running;
	}

	/** The turn in progress, if any (the engine waits for it when stopping). */
	idle(): Promise<void> | null {
		return this.state.running;
	}

	/**
	 * Read and apply the log after the checkpoint, a page per transaction; with no checkpoint,
	 * start from the producer's snapshot. Returns how many events changed something.
	 */
	private async catchUp(): Promise<number> {
		const { producer, db, checkpoints, report } = this.deps;
		const { policy } = this.context;
		const batches = this.batches;
		const checkpoint = await checkpoints.find(producer);
		let after = checkpoint ?? 0;
		let appliedTotal = 0;
		let boot: SnapshotProgress | null = null;
		if (startsFromSnapshot(checkpoint)) {
			if (this.snapshots.canBootstrap) {
				boot = await this.snapshots.run("bootstrap");
				if (boot === null) return 0;
				after = boot.atSequence ?? 0;
				appliedTotal += boot.written;
			} else {
				// no snapshot to start from: follow the log from its start
				await db.transaction((sql) => checkpoints.placeAt(sql, producer, 0));
			}
		}
		while (!this.context.stopping() && !this.context.paused()) {
			const page = await this.deps.readLog(after, policy.pageSize);
			if (page.events.length === 0) break;
			const last = page.events[page.events.length - 1].sequence;
			// faults are checked once, for the events the first try finds fresh (a redo finds fewer)
			let checked: Checked<E> | undefined;
			const applied = await batches.withFallback((oneByOne) =>
				db.transaction(async (sql) => {
					// live events may have moved the checkpoint since the page was read: skip what
					// they took care of (a failed one is in the retry table already)
					const current = await checkpoints.get(sql, producer);
					checked ??= batches.checkFaults(page.events.filter((event) => event.sequence > current));
					const fresh: Checked<E> = {
						ready: checked.ready.filter((event) => event.sequence > current),
						failed: checked.failed.filter(({ event }) => event.sequence > current),
					};
					const applied = await batches.apply(sql, fresh, oneByOne);
					await checkpoints.moveTo(sql, producer, last);
					return { ...applied, stale: [...applied.stale, ...page.events.filter((event) => event.sequence <= current)] };
				}),
			);
			report.caughtUp(page.events.length);
			batches.report(applied);
			await this.deps.settle(applied.effects);
			appliedTotal += applied.applied.length;
			this.snapshots.caughtUp(applied.applied.length);
			after = last;
			if (page.events.length < policy.pageSize) break;
		}
		if (boot && !this.context.stopping()) this.snapshots.finish(boot);
		return appliedTotal;
	}

	/**
	 * A rebuild, then the log after its snapshot. The node keeps serving meanwhile: readers see
	 * each row go from its old state to its rebuilt one, never an empty or truncated copy.
	 */
	private async rebuildThenCatchUp(): Promise<number> {
		const run = await this.snapshots.run("rebuild");
		if (run === null) return 0;
		const caughtUp = await this.catchUp();
		if (run.state === "running" && !this.context.stopping()) this.snapshots.finish(run);
		else if (this.context.stopping()) this.snapshots.ended("interrupted");
		return run.written + caughtUp;
	}
}
