/**
 * Consumer side, as a Moleculer mixin: subscribes the consumer's events in its group, hands
 * them to the consumer engine (lib/consumer/engine.ts, and the step files it names, where the
 * behaviour lives), and runs the engine with the service's lifecycle. Also the internal
 * dead-letter, state and rebuild actions (a rebuild from the producer's snapshot:
 * lib/consumer/snapshot-runs.ts), and
 * the sampler that keeps the consumer's lag, retries, dead letters and queue depths in the metrics.
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Checkpoints } from "../lib/consumer/checkpoints";
import { type ConsumerDeclaration, consumerQueueNames, METRICS, PAGE_SIZE_MAX } from "../lib/constants";
import { type ConsumerSelfReport, lagOf } from "../lib/consumer/consumer-state";
import { ResilientAmqpTransporter } from "../lib/infra/amqp-transporter";
import { serviceAvailable } from "../lib/infra/readiness";
import { CONSUMER_POLICY, type ConsumerPolicy, ConsumerEngine, type SnapshotProgress } from "../lib/consumer/engine";
import type { SnapshotPage } from "../lib/domain/snapshot";
import type { Projection } from "../lib/consumer/projection";
import type { Database } from "../lib/storage/database";
import type { DomainEvent, EventPage } from "../lib/domain/events";
import { causedBy } from "../lib/domain/caused-by";
import { checkEvent } from "../lib/domain/event-schema";
import type { FaultInjector } from "../lib/infra/faults";
import { count, gauge, observe, registerMetrics } from "../lib/infra/metrics";
import type { DeadLetter, RetryStore } from "../lib/consumer/retries";
import type { EventLogMethods } from "./event-log.mixin";

export interface ConsumerOptions<E extends DomainEvent> {
	consumer: ConsumerDeclaration;
	catchUpIntervalMs: number;
	db: Database;
	projection: Projection<E>;
	checkpoints: Checkpoints;
	retries: RetryStore;
	policy?: ConsumerPolicy;
	/** tests only: makes handlers fail on demand */
	faults?: FaultInjector;
}

/** What the consuming service gains. */
export interface ConsumerMethods {
	/** Catch up from the producer's log now (or once more after the running catch-up). */
	requestCatchUp(reason: string): Promise<void>;
	/** Its checkpoint, pending retries and dead letters, from its own database (readiness asks). */
	consumerSelfReport(): Promise<ConsumerSelfReport>;
	/** Put lag, retries, dead letters and queue depths into the metrics (the sampler's tick). */
	sampleConsumerState(): Promise<void>;
}

interface ConsumerState {
	consumerEngine: ConsumerEngine<DomainEvent>;
	consumerStopping: boolean;
	consumerSampler?: NodeJS.Timeout;
}

type ConsumerThis = Service & ConsumerMethods & EventLogMethods & ConsumerState;

/** How often a starting consumer looks whether its producer is registered yet. */
const PRODUCER_POLL_MS = 100;

/** How often lag, retries, dead letters and queue depths are sampled into the metrics (gauges). */
const SAMPLE_EVERY_MS = 5000;
/** A sample's questions to the producer and RabbitMQ get this long; an unanswered one is skipped. */
const SAMPLE_TIMEOUT_MS = 2000;

export function EventConsumerMixin<E extends DomainEvent>(options: ConsumerOptions<E>): Partial<ServiceSchema> {
	const { consumer, retries } = options;
	const labels = { producer: consumer.producer };

	const events: NonNullable<ServiceSchema["events"]> = {};
	for (const name of consumer.events) {
		events[name] = {
			group: consumer.group,
			async handler(this: ConsumerThis, ctx: Context<DomainEvent>) {
				// the engine checks the payload against this event's schema before anything else;
				// the request that caused the event follows it into the projection, retries and logs
				const event = typeof ctx.params === "object" && ctx.params !== null ? causedBy(ctx.params, ctx.requestID) : ctx.params;
				if (!this.broker.isTracingEnabled()) return this.consumerEngine.live(event, name);
				// a span of its own in the event's trace: its wait for a batch and the projection write
				const span = ctx.startSpan(`apply ${name} (${consumer.service})`, { tags: { requestID: ctx.requestID } });
				try {
					await this.consumerEngine.live(event, name);
				} finally {
					ctx.finishSpan(span);
				}
			},
		};
	}

	/**
	 * Resolve true once the producer is registered, false if we stop first or it takes longer
	 * than `withinMs` (the timer catches up then). Not broker.waitForServices: its polling
	 * outlives a stopped broker for the whole timeout and holds the process open.
	 */
	function waitForProducer(service: ConsumerThis, withinMs: number): Promise<boolean> {
		const deadline = Date.now() + withinMs;
		return new Promise((resolve) => {
			const check = () => {
				if (service.consumerStopping) return resolve(false);
				const services = service.broker.registry.getServiceList({ onlyAvailable: true });
				if (services.some((item) => item.name === consumer.producer)) return resolve(true);
				if (Date.now() >= deadline) return resolve(false);
				setTimeout(check, PRODUCER_POLL_MS).unref();
			};
			check();
		});
	}

	const schema: Partial<ServiceSchema<ServiceSettingSchema, ConsumerMethods & EventLogMethods, ConsumerState>> = {
		events,
		actions: {
			/** Internal (transporter and REPL only): a slice of this consumer's dead letters, by id, and their number. */
			deadLetters: {
				visibility: "public",
				params: {
					offset: { type: "number", integer: true, min: 0 },
					limit: { type: "number", integer: true, min: 0, max: PAGE_SIZE_MAX },
					$$strict: true,
				},
				handler(ctx: Context<{ offset: number; limit: number }>): Promise<{ rows: DeadLetter[]; total: number }> {
					return retries.deadLetters(ctx.params.offset, ctx.params.limit);
				},
			},
			/** Internal: this consumer's checkpoint, pending retries and dead letters (a gateway's readiness asks). */
			consumerState: {
				visibility: "public",
				params: { $$strict: true },
				handler(this: ConsumerThis): Promise<ConsumerSelfReport> {
					return this.consumerSelfReport();
				},
			},
			/**
			 * Internal: rebuild this consumer's projection from the producer's snapshot, then the log
			 * after it, while the node keeps serving. Answers at once with the rebuild's progress
			 * (the one already running, if any); rebuildState follows it.
			 */
			rebuild: {
				visibility: "public",
				params: { $$strict: true },
				handler(this: ConsumerThis): SnapshotProgress {
					return this.consumerEngine.rebuild();
				},
			},
			/** Internal: this node's running or last bootstrap or rebuild, or null. */
			rebuildState: {
				visibility: "public",
				params: { $$strict: true },
				handler(this: ConsumerThis): SnapshotProgress | null {
					return this.consumerEngine.snapshotProgress();
				},
			},
			/** Internal: give a dead letter a fresh set of attempts, starting now. */
			retryDeadLetter: {
				visibility: "public",
				params: { id: { type: "number", integer: true, positive: true }, $$strict: true },
				async handler(this: ConsumerThis, ctx: Context<{ id: number }>): Promise<DeadLetter | null> {
					const revived = await retries.revive(ctx.params.id);
					if (revived) this.consumerEngine.wakeRetries();
					return revived;
				},
			},
		},
		methods: {
			requestCatchUp(this: ConsumerThis, reason: string): Promise<void> {
				return this.consumerEngine.requestCatchUp(reason);
			},
			async consumerSelfReport(): Promise<ConsumerSelfReport> {
				const [checkpoint, counts] = await Promise.all([options.checkpoints.read(consumer.producer), retries.counts()]);
				return { checkpoint, pendingRetries: counts.pending, deadLetters: counts.dead };
			},
			async sampleConsumerState(this: ConsumerThis): Promise<void> {
				const broker = this.broker;
				const labels = { consumer: consumer.service };
				const [self, head] = await Promise.all([
					this.consumerSelfReport(),
					serviceAvailable(broker, consumer.producer)
						? broker
								.call<{ lastSequence: number }, Record<string, never>>(consumer.logHeadAction, {}, { timeout: SAMPLE_TIMEOUT_MS })
								.then((answer) => answer.lastSequence)
								.catch(() => null)
						: null,
				]);
				gauge(broker, METRICS.retriesPending, self.pendingRetries, labels);
				gauge(broker, METRICS.deadLetters, self.deadLetters, labels);
				const lag = lagOf(head, self.checkpoint);
				if (lag !== null) gauge(broker, METRICS.consumerLag, lag, { ...labels, producer: consumer.producer });
				const tx = broker.transit?.tx;
				if (!(tx instanceof ResilientAmqpTransporter)) return;
				const queues = await tx.inspectQueues(consumerQueueNames(broker.namespace, consumer));
				for (const [queue, state] of Object.entries(queues)) {
					if (state.messages !== null) gauge(broker, METRICS.queueMessages, state.messages, { queue });
					if (state.consumers !== null) gauge(broker, METRICS.queueConsumers, state.consumers, { queue });
				}
			},
		},
		created(this: ConsumerThis) {
			registerMetrics(this.broker);
			const broker = this.broker;
			const logger = this.logger;
			this.consumerEngine = new ConsumerEngine<E>({
				producer: consumer.producer,
				db: options.db,
				projection: options.projection,
				checkpoints: options.checkpoints,
				retries,
				// SQLite has one writer: lanes would only split its batches into more, smaller ones
				policy: options.policy ?? { ...CONSUMER_POLICY, partitions: options.db.dialect === "sqlite" ? 1 : CONSUMER_POLICY.partitions },
				faults: options.faults,
				check: (payload, name) => {
					const checked = checkEvent(consumer.producer, payload, name);
					return checked.ok ? [] : checked.problems;
				},
				readLog: async (after, limit) => {
					const page = await broker.call<EventPage<E>, { after: number; limit: number }>(consumer.readLogAction, { after, limit });
					for (const event of page.events) causedBy(event, page.requestIds?.[event.eventId]);
					return page;
				},
				readSnapshot: async (atSequence, afterEntity, limit) => {
					const params = { ...(atSequence === undefined ? {} : { atSequence }), afterEntity, limit };
					const page = await broker.call<SnapshotPage<E>, typeof params>(consumer.snapshotAction, params);
					for (const event of page.events) causedBy(event, page.requestIds?.[event.eventId]);
					return page;
				},
				copyName: consumer.copyName,
				settle: (effects) => this.settle(effects),
				report: {
					applied: (n) => count(broker, METRICS.eventsApplied, labels, n),
					stale: (n) => count(broker, METRICS.eventsStale, labels, n),
					failed: (n) => count(broker, METRICS.eventsFailed, labels, n),
					retried: () => count(broker, METRICS.eventsRetried, labels),
					deadLettered: () => count(broker, METRICS.eventsDeadLettered, labels),
					caughtUp: (read) => count(broker, METRICS.catchUpEvents, labels, read),
					snapshotRead: (entities) => count(broker, METRICS.snapshotEntities, labels, entities),
					catchUpRun: () => count(broker, METRICS.catchUpRuns, labels),
					propagation: (ms) => observe(broker, METRICS.propagationMs, ms, labels),
					rejected: () => count(broker, METRICS.eventsRejected, labels),
					debug: (message) => logger.debug(message),
					info: (message) => logger.info(message),
					warn: (message) => logger.warn(message),
					error: (message, err) => logger.error(message, err ?? ""),
				},
			}) as unknown as ConsumerEngine<DomainEvent>;
		},
		async started(this: ConsumerThis) {
			this.consumerStopping = false;
			await this.consumerEngine.start(options.catchUpIntervalMs, (reason) => void this.requestCatchUp(reason));
			if (this.broker.isMetricsEnabled()) {
				const sample = () => this.sampleConsumerState().catch((err: Error) => this.logger.debug(`Sampling the consumer's state failed: ${err.message}`));
				this.consumerSampler = setInterval(sample, SAMPLE_EVERY_MS);
				this.consumerSampler.unref();
				void sample();
			}
			// Catch up as soon as the producer is reachable, without holding up our own start.
			void waitForProducer(this, options.catchUpIntervalMs).then((reachable) => {
				if (reachable) return this.requestCatchUp("start");
				if (!this.consumerStopping) this.logger.warn(`Initial catch-up deferred: '${consumer.producer}' is not reachable yet.`);
			});
		},
		async stopped(this: ConsumerThis) {
			this.consumerStopping = true;
			clearInterval(this.consumerSampler);
			await this.consumerEngine.stop();
		},
	};
	return schema as Partial<ServiceSchema>;
}
