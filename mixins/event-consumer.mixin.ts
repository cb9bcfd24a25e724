/**
 * Consumer side, as a Moleculer mixin: subscribes the consumer's events in its group, hands
 * them to the consumer engine (lib/consumer/engine.ts, and the step files it names, where the
 * behaviour lives), and runs the engine with the service's lifecycle. Also the internal
 * dead-letter, state, pause and rebuild actions (a rebuild from the producer's snapshot:
 * lib/consumer/snapshot-runs.ts), what a pause does outside the engine (the transporter stops
 * consuming the group's queues, the other replicas are told, the metrics), the purge of settled
 * dead letters, and the sampler that keeps the consumer's lag, retries, dead letters and queue
 * depths in the metrics.
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
import type { PauseStore } from "../lib/consumer/pauses";
import { type ConsumerPause, type PauseState, presentPause } from "../lib/consumer/pause-rules";
import { DEAD_LETTER_STATES, type DeadLetterFilter } from "../lib/consumer/dead-letter-query";
import { retentionCutoff } from "../lib/consumer/dead-letter-retention";
import { EVENT_TYPES } from "../lib/constants";
import { takeDelivery } from "../lib/infra/delivery-hand-back";
import { isoTimestamp, EVENT_MESSAGES } from "../lib/domain/event-schema";
import type { EventLogMethods } from "./event-log.mixin";

export interface ConsumerOptions<E extends DomainEvent> {
	consumer: ConsumerDeclaration;
	catchUpIntervalMs: number;
	db: Database;
	projection: Projection<E>;
	checkpoints: Checkpoints;
	retries: RetryStore;
	/** the consumer's pause and its consecutive failures (CONSUMER_PAUSE_AFTER, CONSUMER_PAUSE_MS) */
	pauses: PauseStore;
	/** DEAD_LETTER_RETENTION_DAYS: how long discarded and replayed dead letters are kept */
	deadLetterRetentionDays: number;
	policy?: ConsumerPolicy;
	/** tests only: makes handlers fail on demand */
	faults?: FaultInjector;
	/** the clock of the purge, for tests */
	now?: () => Date;
}

/** What the consuming service gains. */
export interface ConsumerMethods {
	/** Catch up from the producer's log now (or once more after the running catch-up). */
	requestCatchUp(reason: string): Promise<void>;
	/** Its checkpoint, pending retries and dead letters, from its own database (readiness asks). */
	consumerSelfReport(): Promise<ConsumerSelfReport>;
	/** Put lag, retries, dead letters and queue depths into the metrics (the sampler's tick). */
	sampleConsumerState(): Promise<void>;
	/** Whether this consumer is paused, as this replica knows it (readiness: its queues have no consumer then). */
	consumerPaused(): boolean;
	/** Delete the settled dead letters whose retention is over at `asOf` (now by default): how many. */
	purgeDeadLetters(asOf?: Date): Promise<number>;
	/** The consumer was paused or runs again (the engine says so): what that does outside the engine. */
	pauseChanged(pause: PauseState, decidedHere: boolean): void;
}

interface ConsumerState {
	consumerEngine: ConsumerEngine<DomainEvent>;
	consumerStopping: boolean;
	consumerSampler?: NodeJS.Timeout;
	consumerPurger?: NodeJS.Timeout;
}

type ConsumerThis = Service & ConsumerMethods & EventLogMethods & ConsumerState;

/** How often a starting consumer looks whether its producer is registered yet. */
const PRODUCER_POLL_MS = 100;

/** How often lag, retries, dead letters and queue depths are sampled into the metrics (gauges). */
const SAMPLE_EVERY_MS = 5000;
/** A sample's questions to the producer and RabbitMQ get this long; an unanswered one is skipped. */
const SAMPLE_TIMEOUT_MS = 2000;

/** How often settled dead letters whose retention is over are purged (and once at start). */
const PURGE_EVERY_MS = 3_600_000;

/** Another replica told of a pause or resume gets this long to answer (it reads the table itself within a second anyway). */
const TELL_TIMEOUT_MS = 2000;

/** A dead-letter filter as the consumer's internal actions take it (the gateway checked it already, as the API's schema). */
const FILTER_PARAM = {
	type: "object",
	optional: true,
	strict: true,
	props: {
		eventType: { type: "enum", values: [...EVENT_TYPES], optional: true },
		entityId: { type: "number", integer: true, positive: true, optional: true },
		error: { type: "string", min: 1, max: 1000, optional: true },
		from: { type: "string", custom: isoTimestamp, messages: EVENT_MESSAGES, optional: true },
		to: { type: "string", custom: isoTimestamp, messages: EVENT_MESSAGES, optional: true },
		state: { type: "enum", values: [...DEAD_LETTER_STATES], optional: true },
	},
} as const;

/** Who made an operator's change, as its record says: an admin token's id, or `repl`. */
const BY_PARAM = { type: "string", min: 1, max: 64 } as const;

export function EventConsumerMixin<E extends DomainEvent>(options: ConsumerOptions<E>): Partial<ServiceSchema> {
	const { consumer, retries, pauses } = options;
	const labels = { producer: consumer.producer };
	const now = options.now ?? (() => new Date());

	/**
	 * Tell the consumer's other live replicas that its pause changed: each reads it from the table
	 * at once (they would within CONSUMER_POLICY.pauseLookMs anyway).
	 */
	function tellOtherReplicas(service: ConsumerThis): void {
		const broker = service.broker;
		const others = broker.registry
			.getServiceList({ onlyAvailable: true })
			.filter((item) => item.name === consumer.service && item.nodeID !== broker.nodeID)
			.map((item) => item.nodeID as string);
		for (const nodeID of new Set(others)) {
			void broker.call(consumer.pauseStateAction, {}, { nodeID, timeout: TELL_TIMEOUT_MS }).catch(() => undefined);
		}
	}

	const events: NonNullable<ServiceSchema["events"]> = {};
	for (const name of consumer.events) {
		events[name] = {
			group: consumer.group,
			async handler(this: ConsumerThis, ctx: Context<DomainEvent>) {
				// the AMQP delivery this call is for: taken before the first await (lib/infra/delivery-hand-back.ts)
				const delivery = takeDelivery();
				// the engine checks the payload against this event's schema before anything else;
				// the request that caused the event follows it into the projection, retries and logs
				const event = typeof ctx.params === "object" && ctx.params !== null ? causedBy(ctx.params, ctx.requestID) : ctx.params;
				// a span of its own in the event's trace: its wait for a batch and the projection write
				const span = this.broker.isTracingEnabled() ? ctx.startSpan(`apply ${name} (${consumer.service})`, { tags: { requestID: ctx.requestID } }) : null;
				try {
					// paused: not applied; the delivery goes back to its queue (without a transporter the
					// event waits in the producer's log, whose checkpoint it has not passed)
					if ((await this.consumerEngine.live(event, name)) === "handedBack") delivery?.handBack();
				} finally {
					if (span) ctx.finishSpan(span);
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
			/** Internal (transporter and REPL only): a slice of the dead letters a filter selects, by id, and their number. */
			deadLetters: {
				visibility: "public",
				params: {
					offset: { type: "number", integer: true, min: 0 },
					limit: { type: "number", integer: true, min: 0, max: PAGE_SIZE_MAX },
					filter: FILTER_PARAM,
					$$strict: true,
				},
				handler(ctx: Context<{ offset: number; limit: number; filter?: DeadLetterFilter }>): Promise<{ rows: DeadLetter[]; total: number }> {
					return retries.deadLetters(ctx.params.filter ?? {}, ctx.params.offset, ctx.params.limit);
				},
			},
			/** Internal: one dead letter by row id, in whatever state (pending: it is back in the retry table), or null. */
			deadLetter: {
				visibility: "public",
				params: { id: { type: "number", integer: true, positive: true }, $$strict: true },
				handler(ctx: Context<{ id: number }>): Promise<DeadLetter | null> {
					return retries.deadLetter(ctx.params.id);
				},
			},
			/** Internal: replace a dead letter's event (edit before replay); 422 naming each field at fault, 404 if it is no dead letter. */
			editDeadLetter: {
				visibility: "public",
				params: { id: { type: "number", integer: true, positive: true }, event: { type: "any" }, by: BY_PARAM, $$strict: true },
				handler(ctx: Context<{ id: number; event: unknown; by: string }>): Promise<DeadLetter> {
					return retries.edit(ctx.params.id, ctx.params.event, ctx.params.by);
				},
			},
			/** Internal: discard one dead letter (kept as discarded for the retention period); null if it is no dead letter. */
			discardDeadLetter: {
				visibility: "public",
				params: { id: { type: "number", integer: true, positive: true }, $$strict: true },
				handler(ctx: Context<{ id: number }>): Promise<DeadLetter | null> {
					return retries.discard(ctx.params.id);
				},
			},
			/** Internal: retry every dead letter a filter selects; how many. */
			retryDeadLetters: {
				visibility: "public",
				params: { filter: { ...FILTER_PARAM, optional: false }, $$strict: true },
				async handler(this: ConsumerThis, ctx: Context<{ filter: DeadLetterFilter }>): Promise<{ retried: number }> {
					const retried = await retries.reviveMatching(ctx.params.filter);
					if (retried > 0) this.consumerEngine.wakeRetries();
					return { retried };
				},
			},
			/** Internal: discard every dead letter a filter selects; how many. */
			discardDeadLetters: {
				visibility: "public",
				params: { filter: { ...FILTER_PARAM, optional: false }, $$strict: true },
				async handler(ctx: Context<{ filter: DeadLetterFilter }>): Promise<{ discarded: number }> {
					return { discarded: await retries.discardMatching(ctx.params.filter) };
				},
			},
			/**
			 * Internal: purge the settled dead letters whose retention is over, as of `asOf` (an ISO
			 * time; now by default): a later time purges what would be purged then. How many.
			 */
			purgeDeadLetters: {
				visibility: "public",
				params: { asOf: { type: "string", custom: isoTimestamp, messages: EVENT_MESSAGES, optional: true }, $$strict: true },
				async handler(this: ConsumerThis, ctx: Context<{ asOf?: string }>): Promise<{ purged: number }> {
					return { purged: await this.purgeDeadLetters(ctx.params.asOf === undefined ? undefined : new Date(ctx.params.asOf)) };
				},
			},
			/**
			 * Internal: this consumer's pause, read from its database now (another replica that
			 * changed it calls this on each replica, which adopts it at once).
			 */
			consumerPause: {
				visibility: "public",
				params: { $$strict: true },
				async handler(this: ConsumerThis): Promise<ConsumerPause> {
					await this.consumerEngine.lookAtPause();
					return presentPause(consumer.service, this.consumerEngine.pauseState());
				},
			},
			/** Internal: an operator's pause (`by`: an admin token's id, or `repl`), until an operator resumes it. */
			pauseConsumer: {
				visibility: "public",
				params: { by: BY_PARAM, reason: { type: "string", min: 1, max: 200, optional: true }, $$strict: true },
				async handler(this: ConsumerThis, ctx: Context<{ by: string; reason?: string }>): Promise<ConsumerPause> {
					const { pause, changed } = await pauses.pause(ctx.params.by, ctx.params.reason);
					if (changed) count(this.broker, METRICS.consumerPauses, { consumer: consumer.service });
					this.consumerEngine.adoptPause(pause, false);
					tellOtherReplicas(this);
					return presentPause(consumer.service, pause);
				},
			},
			/** Internal: an operator's resume; its consecutive failures are counted from 0 again. */
			resumeConsumer: {
				visibility: "public",
				params: { by: BY_PARAM, $$strict: true },
				async handler(this: ConsumerThis, ctx: Context<{ by: string }>): Promise<ConsumerPause> {
					const { pause, changed } = await pauses.resume();
					if (changed) this.logger.info(`Consumer ${consumer.service} resumed by an operator (${ctx.params.by}).`);
					this.consumerEngine.adoptPause(pause, false);
					tellOtherReplicas(this);
					return presentPause(consumer.service, pause);
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
			async consumerSelfReport(this: ConsumerThis): Promise<ConsumerSelfReport> {
				const [checkpoint, counts] = await Promise.all([options.checkpoints.read(consumer.producer), retries.counts()]);
				const { state, reason, since } = presentPause(consumer.service, this.consumerEngine.pauseState());
				return { checkpoint, pendingRetries: counts.pending, deadLetters: counts.dead, pause: { state, reason, since } };
			},
			pauseChanged(this: ConsumerThis, pause: PauseState, decidedHere: boolean): void {
				const broker = this.broker;
				const tx = broker.transit?.tx;
				const amqp = tx instanceof ResilientAmqpTransporter ? tx : null;
				gauge(broker, METRICS.consumerPaused, pause.state === "paused" ? 1 : 0, { consumer: consumer.service });
				const held = (work: Promise<void> | undefined, what: string) =>
					work?.catch((err: Error) => this.logger.warn(`${what} the ${consumer.group} queues failed (${err.message}); the next reconnect does it.`));
				if (pause.state === "paused") {
					// its events wait in their queues (a delivery already under way is handed back there)
					void held(amqp?.holdEventGroup(consumer.group), "Stopping to consume");
					if (decidedHere) count(broker, METRICS.consumerPauses, { consumer: consumer.service });
					this.logger.warn(`Consumer ${consumer.service} paused: ${pause.reason}. Its events wait in their queues.`);
				} else {
					void held(amqp?.releaseEventGroup(consumer.group), "Consuming again");
					this.logger.info(`Consumer ${consumer.service} runs again.`);
					// what the log holds beyond the checkpoint (without a transporter: every event of the pause), and the retries due
					void this.requestCatchUp("resumed");
					this.consumerEngine.wakeRetries();
				}
				if (decidedHere) tellOtherReplicas(this);
			},
			consumerPaused(this: ConsumerThis): boolean {
				return this.consumerEngine.pauseState().state === "paused";
			},
			async purgeDeadLetters(this: ConsumerThis, asOf?: Date): Promise<number> {
				const purged = await retries.purgeSettled(retentionCutoff(asOf ?? now(), options.deadLetterRetentionDays));
				count(this.broker, METRICS.deadLettersPurged, { consumer: consumer.service }, purged);
				if (purged > 0) this.logger.info(`Purged ${purged} settled dead letter(s) of ${consumer.service} (kept ${options.deadLetterRetentionDays} days).`);
				return purged;
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
				gauge(broker, METRICS.consumerPaused, this.consumerPaused() ? 1 : 0, labels);
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
				pauses,
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
					pauseChanged: (pause, decidedHere) => this.pauseChanged(pause, decidedHere),
					debug: (message) => logger.debug(message),
					info: (message) => logger.info(message),
					warn: (message) => logger.warn(message),
					error: (message, err) => logger.error(message, err ?? ""),
				},
			}) as unknown as ConsumerEngine<DomainEvent>;
		},
		async started(this: ConsumerThis) {
			this.consumerStopping = false;
			// reads the pause first: a replica starting while it lasts never consumes the group's
			// queues (they are subscribed once this service is registered, after this handler)
			await this.consumerEngine.start(options.catchUpIntervalMs, (reason) => void this.requestCatchUp(reason));
			gauge(this.broker, METRICS.consumerPaused, this.consumerPaused() ? 1 : 0, { consumer: consumer.service });
			const purge = () => this.purgeDeadLetters().catch((err: Error) => this.logger.warn(`Purging settled dead letters failed: ${err.message}`));
			this.consumerPurger = setInterval(purge, PURGE_EVERY_MS);
			this.consumerPurger.unref();
			void purge();
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
			clearInterval(this.consumerPurger);
			await this.consumerEngine.stop();
		},
	};
	return schema as Partial<ServiceSchema>;
}
