/**
 * Consumer side: keeps a projection of another service's entities from its events.
 *
 * - Live events are applied in one transaction together with the checkpoint. The service's
 *   `applyEvent` carries the version guard (apply only if newer), so a redelivered, replayed or
 *   out-of-order event is a no-op: that one rule gives idempotency and per-entity order.
 * - Catch-up reads the producer's log after the checkpoint, page by page, on start, when a live
 *   event leaves a gap, and on a timer. A consumer that was down, or a lost message, converges
 *   without help.
 * - A handler failure never escapes to the transporter: it is logged and the event is re-read
 *   from the log by the next catch-up.
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Transaction } from "sequelize";
import type { Checkpoints } from "../lib/checkpoints";
import { CATCH_UP_PAGE_SIZE, METRICS, type Source } from "../lib/constants";
import type { Database } from "../lib/database";
import { type Effects, mergeEffects } from "../lib/effects";
import type { DomainEvent, EventPage } from "../lib/events";
import { count, observe, registerMetrics } from "../lib/metrics";
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
	consumerStopping?: boolean;
}

type ConsumerThis = Service & ConsumerMethods & EventLogMethods & ConsumerState & ConsumerInternals;

type ConsumerInternals = {
	consumeLive(event: DomainEvent): Promise<void>;
	requestCatchUp(reason: string): Promise<void>;
	catchUp(): Promise<number>;
	waitForProducer(withinMs: number): Promise<boolean>;
};

/** How often a starting consumer looks whether its producer is registered yet. */
const PRODUCER_POLL_MS = 100;

export function EventConsumerMixin(options: ConsumerOptions): Partial<ServiceSchema> {
	const { producer, group, db, checkpoints } = options;

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
		methods: {
			async consumeLive(event: DomainEvent): Promise<void> {
				const labels = { producer };
				try {
					const { effects, position } = await db.transaction(async (tx) => ({
						effects: await this.applyEvent(tx, event),
						position: await checkpoints.advance(tx, producer, event.sequence),
					}));
					if (effects) {
						count(this.broker, METRICS.eventsApplied, labels);
						observe(this.broker, METRICS.propagationMs, Date.now() - Date.parse(event.timestamp), labels);
						await this.settle(effects);
					} else {
						count(this.broker, METRICS.eventsStale, labels);
					}
					if (position === "gap") void this.requestCatchUp(`gap before ${producer} #${event.sequence}`);
				} catch (err) {
					// Never rethrow: the transporter would ack anyway (Moleculer swallows event errors).
					count(this.broker, METRICS.eventsFailed, labels);
					this.logger.error(`Applying ${producer} #${event.sequence} failed; catch-up will retry it.`, err);
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
							count(this.broker, METRICS.catchUpRuns, { producer });
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
					const changed = await db.transaction(async (tx) => {
						const all: Effects[] = [];
						for (const event of page.events) {
							const effects = await this.applyEvent(tx, event);
							if (effects) all.push(effects);
						}
						await checkpoints.moveTo(tx, producer, last);
						return all;
					});
					const labels = { producer };
					count(this.broker, METRICS.catchUpEvents, labels, page.events.length);
					count(this.broker, METRICS.eventsApplied, labels, changed.length);
					count(this.broker, METRICS.eventsStale, labels, page.events.length - changed.length);
					await this.settle(mergeEffects(changed));
					appliedTotal += changed.length;
					after = last;
					if (page.events.length < CATCH_UP_PAGE_SIZE) break;
				}
				return appliedTotal;
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
			// Catch up as soon as the producer is reachable, without holding up our own start.
			void this.waitForProducer(options.catchUpIntervalMs).then((reachable) => {
				if (reachable) return this.requestCatchUp("start");
				if (!this.consumerStopping) this.logger.warn(`Initial catch-up deferred: '${producer}' is not reachable yet.`);
			});
		},
		async stopped() {
			this.consumerStopping = true;
			clearInterval(this.catchUpTimer);
			await this.catchUpRunning;
		},
	};
	return schema as Partial<ServiceSchema>;
}
