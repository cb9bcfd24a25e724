/**
 * Consumer side: keeps a projection of another service's entities from its events.
 *
 * - Live events are applied in one transaction together with the checkpoint. The service's
 *   `applyEvent` carries the version guard (apply only if newer), so a redelivered, replayed or
 *   out-of-order event is a no-op: that one rule gives idempotency and per-entity order.
 * - Catch-up reads the producer's log after the checkpoint, page by page, on start, when a live
 *   event leaves a gap, and on a timer. A consumer that was down, or a lost message, converges
 *   without help.
 * - A failing handler never escapes to the transporter and never holds up other events: the
 *   event is applied in a savepoint, and if that fails it goes to the durable retry table in the
 *   same transaction that moves the checkpoint past it. Due retries are re-applied with backoff;
 *   after the last attempt the event is a dead letter (lib/retries.ts).
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Transaction } from "sequelize";
import type { Checkpoints } from "../lib/checkpoints";
import { CATCH_UP_PAGE_SIZE, METRICS, type Source } from "../lib/constants";
import type { Database } from "../lib/database";
import { type Effects, mergeEffects } from "../lib/effects";
import type { DomainEvent, EventPage } from "../lib/events";
import type { FaultInjector } from "../lib/faults";
import { count, observe, registerMetrics } from "../lib/metrics";
import type { DeadLetter, RetryStore } from "../lib/retries";
import type { EventLogMethods } from "./event-log.mixin";

export interface ConsumerOptions {
	/** the service whose events we consume */
	producer: Source;
	/** our consumer group: one durable queue per event, shared by our replicas */
	group: string;
	/** event names to subscribe to */
	events: readonly string[];
	/** the producer's internal action that serves its log */
	eventsAfterAction: string;
	catchUpIntervalMs: number;
	db: Database;
	checkpoints: Checkpoints;
	retries: RetryStore;
	/** tests only: makes handlers fail on demand */
	faults?: FaultInjector;
}

/** What the consuming service implements. */
export interface ConsumerMethods {
	/**
	 * Apply one event to the projection inside `tx`, version-guarded. Returns what to settle after
	 * commit, or null when the event changed nothing (stale, duplicate, or not ours).
	 */
	applyEvent(tx: Transaction, event: DomainEvent): Promise<Effects | null>;
}

interface ConsumerState {
	catchUpTimer?: NodeJS.Timeout;
	catchUpRunning?: Promise<void>;
	catchUpAgain?: boolean;
	retryTimer?: NodeJS.Timeout;
	retryRunning?: Promise<void>;
	consumerStopping?: boolean;
}

/** The outcome of one event inside a transaction. */
type Outcome = { kind: "applied"; effects: Effects } | { kind: "stale" } | { kind: "failed"; error: unknown };

type ConsumerThis = Service & ConsumerMethods & EventLogMethods & ConsumerState & ConsumerInternals;

type ConsumerInternals = {
	attempt(tx: Transaction, event: DomainEvent): Promise<Outcome>;
	consumeLive(event: DomainEvent): Promise<void>;
	requestCatchUp(reason: string): Promise<void>;
	catchUp(): Promise<number>;
	processRetries(): Promise<void>;
	retryOne(id: number): Promise<void>;
	waitForProducer(withinMs: number): Promise<boolean>;
};

/** How often a starting consumer looks whether its producer is registered yet. */
const PRODUCER_POLL_MS = 100;
/** How often due retries are looked for: well below the first backoff (1 s). */
const RETRY_POLL_MS = 200;
const RETRY_BATCH = 50;

function entityOf(event: DomainEvent): number {
	return event.source === "clients" ? event.clientId : event.goalId;
}

export function EventConsumerMixin(options: ConsumerOptions): Partial<ServiceSchema> {
	const { producer, group, db, checkpoints, retries, faults } = options;
	const labels = { producer };

	const events: NonNullable<ServiceSchema["events"]> = {};
	for (const name of options.events) {
		events[name] = {
			group,
			handler(this: ConsumerThis, ctx: Context<DomainEvent>) {
				return this.consumeLive(ctx.params);
			},
		};
	}

	const schema: Partial<ServiceSchema<ServiceSettingSchema, ConsumerInternals & ConsumerMethods & EventLogMethods, ConsumerState>> = {
		events,
		actions: {
			/** Internal (transporter and REPL only): this consumer's dead letters. */
			deadLetters: {
				visibility: "public",
				handler(): Promise<DeadLetter[]> {
					return retries.deadLetters();
				},
			},
			/** Internal: give a dead letter a fresh set of attempts, starting now. */
			retryDeadLetter: {
				visibility: "public",
				params: { id: { type: "number", integer: true, positive: true }, $$strict: true },
				handler(ctx: Context<{ id: number }>): Promise<DeadLetter | null> {
					return retries.revive(ctx.params.id);
				},
			},
		},
		methods: {
			/** Apply one event in a savepoint of `tx`; a failure rolls back only this event's writes. */
			async attempt(tx: Transaction, event: DomainEvent): Promise<Outcome> {
				try {
					const effects = await db.savepoint(tx, (savepoint) => {
						faults?.checkApply(entityOf(event));
						return this.applyEvent(savepoint, event);
					});
					return effects ? { kind: "applied", effects } : { kind: "stale" };
				} catch (error) {
					count(this.broker, METRICS.eventsFailed, labels);
					return { kind: "failed", error };
				}
			},

			async consumeLive(event: DomainEvent): Promise<void> {
				try {
					const { outcome, position } = await db.transaction(async (tx) => {
						const outcome = await this.attempt(tx, event);
						if (outcome.kind === "failed") await retries.record(tx, producer, event, outcome.error);
						return { outcome, position: await checkpoints.advance(tx, producer, event.sequence) };
					});
					if (outcome.kind === "applied") {
						count(this.broker, METRICS.eventsApplied, labels);
						observe(this.broker, METRICS.propagationMs, Date.now() - Date.parse(event.timestamp), labels);
						await this.settle(outcome.effects);
					} else if (outcome.kind === "stale") {
						count(this.broker, METRICS.eventsStale, labels);
					} else {
						this.logger.warn(`${producer} #${event.sequence} failed (${String(outcome.error)}); retrying with backoff.`);
					}
					if (position === "gap") void this.requestCatchUp(`gap before ${producer} #${event.sequence}`);
				} catch (err) {
					// The transaction itself failed (database down?): nothing was recorded and the
					// checkpoint did not move, so catch-up reads this event again. Never rethrow:
					// Moleculer would swallow it and the transporter ack the message anyway.
					this.logger.error(`Consuming ${producer} #${event.sequence} failed; catch-up will read it again.`, err);
					void this.requestCatchUp("failed live event");
				}
			},

			/** Start a catch-up, or mark that another is wanted if one is running. */
			requestCatchUp(reason: string): Promise<void> {
				if (this.consumerStopping) return Promise.resolve();
				if (this.catchUpRunning) {
					this.catchUpAgain = true;
					return this.catchUpRunning;
				}
				const run = async () => {
					do {
						this.catchUpAgain = false;
						try {
							const applied = await this.catchUp();
							if (applied > 0) {
								count(this.broker, METRICS.catchUpRuns, labels);
								this.logger.info(`Caught up ${applied} ${producer} event(s) (${reason}).`);
							}
						} catch (err) {
							this.logger.warn(`Catch-up from ${producer} failed (${(err as Error).message}); retrying on the next tick.`);
							return;
						}
					} while (this.catchUpAgain && !this.consumerStopping);
				};
				this.catchUpRunning = run().finally(() => {
					this.catchUpRunning = undefined;
				});
				return this.catchUpRunning;
			},

			/** Read and apply the producer's log after our checkpoint, one page per transaction. Returns how many changed something. */
			async catchUp(): Promise<number> {
				let after = await checkpoints.get(producer);
				let appliedTotal = 0;
				while (!this.consumerStopping) {
					const page: EventPage<DomainEvent> = await this.broker.call(options.eventsAfterAction, {
						after,
						limit: CATCH_UP_PAGE_SIZE,
					});
					if (page.events.length === 0) break;
					const last = page.events[page.events.length - 1].sequence;
					const outcomes = await db.transaction(async (tx) => {
						// Live events may have moved the checkpoint since the page was read: skip what
						// they already took care of (a failed one is in the retry table already).
						const current = await checkpoints.get(producer, tx);
						const all: Outcome[] = [];
						for (const event of page.events) {
							if (event.sequence <= current) {
								all.push({ kind: "stale" });
								continue;
							}
							const outcome = await this.attempt(tx, event);
							if (outcome.kind === "failed") await retries.record(tx, producer, event, outcome.error);
							all.push(outcome);
						}
						await checkpoints.moveTo(tx, producer, last);
						return all;
					});
					const applied = outcomes.flatMap((outcome) => (outcome.kind === "applied" ? [outcome.effects] : []));
					count(this.broker, METRICS.catchUpEvents, labels, page.events.length);
					count(this.broker, METRICS.eventsApplied, labels, applied.length);
					count(this.broker, METRICS.eventsStale, labels, outcomes.filter((outcome) => outcome.kind === "stale").length);
					await this.settle(mergeEffects(applied));
					appliedTotal += applied.length;
					after = last;
					if (page.events.length < CATCH_UP_PAGE_SIZE) break;
				}
				return appliedTotal;
			},

			/** Re-apply the retries that are due; one at a time, each in its own transaction. */
			async processRetries(): Promise<void> {
				if (this.retryRunning || this.consumerStopping) return;
				const run = async () => {
					for (const id of await retries.due(RETRY_BATCH)) {
						if (this.consumerStopping) return;
						await this.retryOne(id);
					}
				};
				this.retryRunning = run()
					.catch((err: Error) => this.logger.warn(`Processing retries failed (${err.message}); trying again shortly.`))
					.finally(() => {
						this.retryRunning = undefined;
					});
				await this.retryRunning;
			},

			async retryOne(id: number): Promise<void> {
				const result = await db.transaction(async (tx) => {
					const row = await retries.claim(tx, id);
					if (!row) return null;
					const event = retries.event(row);
					const outcome = await this.attempt(tx, event);
					const status = outcome.kind === "failed" ? await retries.failed(tx, row, outcome.error) : null;
					if (outcome.kind !== "failed") await retries.succeeded(tx, row);
					return { event, outcome, status, attempts: row.attempts };
				});
				if (!result) return;
				const { event, outcome, status, attempts } = result;
				count(this.broker, METRICS.eventsRetried, labels);
				if (outcome.kind === "applied") {
					count(this.broker, METRICS.eventsApplied, labels);
					await this.settle(outcome.effects);
				}
				if (outcome.kind !== "failed") {
					this.logger.info(`${producer} #${event.sequence} succeeded on retry.`);
				} else if (status === "dead") {
					count(this.broker, METRICS.eventsDeadLettered, labels);
					this.logger.error(`${producer} #${event.sequence} dead-lettered after ${attempts} attempts: ${String(outcome.error)}`);
				} else {
					this.logger.warn(`${producer} #${event.sequence} failed attempt ${attempts}; retrying with backoff.`);
				}
			},

			/**
			 * Resolve true once the producer is registered, false if we stop first or it takes
			 * longer than `withinMs` (the timer catches up then). Not broker.waitForServices: its
			 * polling outlives a stopped broker for the whole timeout and holds the process open.
			 */
			waitForProducer(withinMs: number): Promise<boolean> {
				const deadline = Date.now() + withinMs;
				return new Promise((resolve) => {
					const check = () => {
						if (this.consumerStopping) return resolve(false);
						const services = this.broker.registry.getServiceList({ onlyAvailable: true });
						if (services.some((service) => service.name === producer)) return resolve(true);
						if (Date.now() >= deadline) return resolve(false);
						setTimeout(check, PRODUCER_POLL_MS).unref();
					};
					check();
				});
			},
		},
		created() {
			registerMetrics(this.broker);
		},
		async started() {
			this.consumerStopping = false;
			await checkpoints.ensure(producer);
			this.catchUpTimer = setInterval(() => void this.requestCatchUp("timer"), options.catchUpIntervalMs);
			this.catchUpTimer.unref();
			this.retryTimer = setInterval(() => void this.processRetries(), RETRY_POLL_MS);
			this.retryTimer.unref();
			// Catch up as soon as the producer is reachable, without holding up our own start.
			void this.waitForProducer(options.catchUpIntervalMs).then((reachable) => {
				if (reachable) return this.requestCatchUp("start");
				if (!this.consumerStopping) this.logger.warn(`Initial catch-up deferred: '${producer}' is not reachable yet.`);
			});
		},
		async stopped() {
			this.consumerStopping = true;
			clearInterval(this.catchUpTimer);
			clearInterval(this.retryTimer);
			await Promise.all([this.catchUpRunning, this.retryRunning]);
		},
	};
	return schema as Partial<ServiceSchema>;
}
