/**
 * The consumer's pause, as this replica follows it (CONTRACT.md, "Operating consumers"). While
 * paused the other steps take no events: live events are handed back (to their queue, over AMQP;
 * without a transporter they stay in the producer's log, the checkpoint never passing them),
 * catch-up and retries wait. The pause itself is the consumer's, in its database
 * (lib/consumer/pauses.ts): this step reads it on start and every `pauseLookMs`, adopts what a
 * batch's failures or an operator decided, and, when a pause by failures is due to try one event,
 * takes the turn (one replica of all) and tries the next event of the producer's log after the
 * checkpoint: applied (or none waiting), the consumer runs again; failed, it is recorded for retry
 * like any failure and the pause lasts another CONSUMER_PAUSE_MS.
 */
import type { DomainEvent } from "../domain/events";
import type { BatchApplier } from "./batch-apply";
import type { ConsumerDeps, StepContext } from "./consumer-deps";
import { type PauseState, probeDue, RUNNING } from "./pause-rules";

/** What this step changes, and nothing else does. */
interface GateState {
	pause: PauseState;
	/** a look (and maybe a try) in progress */
	running: Promise<void> | null;
}

/** What trying one event came to. */
type Tried = "applied" | "failed" | "none waiting";

export class PauseGate<E extends DomainEvent> {
	private readonly state: GateState = { pause: RUNNING, running: null };

	constructor(
		private readonly deps: ConsumerDeps<E>,
		private readonly context: StepContext,
		private readonly batches: BatchApplier<E>,
	) {}

	paused(): boolean {
		return this.state.pause.state === "paused";
	}

	current(): PauseState {
		return this.state.pause;
	}

	/**
	 * A pause state this replica decided (`decidedHere`: its batch's failures, its tried event, an
	 * operator's call it served) or read from the table: adopted, and the owner told when it turns
	 * running ↔ paused.
	 */
	adopt(pause: PauseState, decidedHere = false): void {
		const was = this.state.pause.state;
		this.state.pause = pause;
		if (was !== pause.state) this.deps.report.pauseChanged?.(pause, decidedHere);
	}

	/** Read the pause as the table holds it (on start: before the consumer takes its first event). */
	async read(): Promise<void> {
		if (this.deps.pauses) this.adopt(await this.deps.pauses.read());
	}

	/**
	 * The periodic look: adopt what the table holds, and try one event when a pause by failures is
	 * due for it and this replica gets the turn. Never rejects.
	 */
	look(): Promise<void> {
		const { state, context, deps } = this;
		const pauses = deps.pauses;
		if (!pauses || state.running || context.stopping()) return state.running ?? Promise.resolve();
		const run = async () => {
			await this.read();
			if (!probeDue(state.pause, new Date(context.now()))) return;
			const turn = await pauses.claimProbe();
			if (!turn) return;
			this.adopt(turn);
			const tried = await this.tryOne();
			deps.report.info(`Paused consumer of ${deps.producer}: tried one event: ${tried}.`);
			if (tried === "failed") return;
			const { pause, changed } = await pauses.probeSucceeded();
			if (changed) this.adopt(pause, true);
		};
		state.running = run()
			.catch((err: Error) => deps.report.warn(`Looking at the consumer's pause failed (${err.message}); looking again shortly.`))
			.finally(() => {
				state.running = null;
			});
		return state.running;
	}

	/** The look in progress, if any (the engine waits for it when stopping). */
	idle(): Promise<void> | null {
		return this.state.running;
	}

	/** The next event of the producer's log after the checkpoint, applied with the checkpoint in one transaction. */
	private async tryOne(): Promise<Tried> {
		const { producer, db, checkpoints, readLog } = this.deps;
		const batches = this.batches;
		const checkpoint = await checkpoints.find(producer);
		// no checkpoint: its bootstrap from the snapshot is still to come, when it runs again
		if (checkpoint === null) return "none waiting";
		const [event] = (await readLog(checkpoint, 1)).events;
		if (!event) return "none waiting";
		const checked = batches.checkFaults([event]);
		const applied = await db.transaction(async (sql) => {
			if ((await checkpoints.get(sql, producer)) >= event.sequence) return null;
			const result = await batches.apply(sql, checked, true);
			await checkpoints.moveTo(sql, producer, event.sequence);
			return result;
		});
		if (!applied) return "none waiting";
		batches.report(applied);
		await this.deps.settle(applied.effects);
		return applied.failed.length > 0 ? "failed" : "applied";
	}
}
