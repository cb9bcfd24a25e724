/**
 * The goal service: owns goals, publishes goal.* events, and keeps its own copy of clients from
 * client.* events (consumer group "goals"): their names for `Goal.clientName`, and tombstones so
 * that a deleted client's goals are deleted and no new goal can be attached to it.
 */
import type { Context, Logger, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { cacheKeys } from "../lib/infra/cache-keys";
import { Checkpoints } from "../lib/consumer/checkpoints";
import { type BreakerSettings, CircuitBreaker } from "../lib/infra/circuit-breaker";
import type { ClientLookup } from "../lib/clients/client-store";
import { CLIENT_GOALS_MAX, CONSUMERS, INTERNAL_ACTIONS, SOURCES } from "../lib/constants";
import { Database } from "../lib/storage/database";
import { serviceSchema } from "../lib/storage/migrations";
import { noEffects } from "../lib/event-log/effects";
import { CircuitOpenError, countsAgainstBreaker, EntityNotFoundError, isUnavailable } from "../lib/errors";
import { clientNotFound } from "../lib/goals/decide";
import type { GoalEvent } from "../lib/domain/events";
import { EventLog } from "../lib/event-log/event-log";
import { FaultInjector, type FaultRules } from "../lib/infra/faults";
import { RetryStore } from "../lib/consumer/retries";
import type { RetryPolicy } from "../lib/domain/retry-schedule";
import { PauseStore } from "../lib/consumer/pauses";
import type { PausePolicy } from "../lib/consumer/pause-rules";
import { ClientProjection } from "../lib/goals/client-projection";
import { GoalStore, goalEventFields, presentGoal } from "../lib/goals/goal-store";
import { toCents } from "../lib/domain/money";
import { ACTION_PARAMS } from "../lib/domain/action-params";
import { type HistoryRequest, historyWindow, type PageRequest, pageWindow, toPage } from "../lib/domain/pagination";
import { idParam, requireChanges } from "../lib/domain/params";
import { type ConsumerMethods, EventConsumerMixin } from "../mixins/event-consumer.mixin";
import { type DatabaseMethods, DatabaseMixin } from "../mixins/database.mixin";
import { FaultInjectionMixin } from "../mixins/fault-injection.mixin";
import { type EventLogMethods, EventLogMixin } from "../mixins/event-log.mixin";
import { LogRelayMixin } from "../mixins/log-relay.mixin";
import { LogRelay, type StreamTarget } from "../lib/relay/log-relay";

export interface GoalsServiceOptions {
	dbUri: string;
	/** PostgreSQL: connections of this replica at most (DB_POOL_MAX) */
	dbPoolMax: number;
	catchUpIntervalMs: number;
	/** tests only (FAULT_INJECTION): rules for making this node fail on demand, or null */
	faults: FaultRules | null;
	/** where the relay publishes the event log for programs outside Moleculer, or null for no relay */
	eventStream: StreamTarget | null;
	/** when a failed event is tried again (RETRY_JITTER turns its jitter off) */
	retryPolicy: RetryPolicy;
	/** DEAD_LETTER_RETENTION_DAYS: how long discarded and replayed dead letters are kept */
	deadLetterRetentionDays: number;
	/** CONSUMER_PAUSE_AFTER, CONSUMER_PAUSE_MS: when its consumer pauses itself, and for how long */
	pausePolicy: PausePolicy;
	/** how long goal creation waits for the client service before using its own copy */
	clientCheckTimeoutMs: number;
	/** the client check's circuit breaker: open, goal creation answers from its own copy at once */
	clientCheckBreaker: BreakerSettings;
}

/** The client check's answer: the client service's word, or "unavailable" when it could not answer. */
type ClientCheck = ClientLookup | null | "unavailable";

type Methods = EventLogMethods &
	ConsumerMethods &
	DatabaseMethods & {
		checkClient(ctx: Context, clientId: number): Promise<ClientCheck>;
	};

export function createGoalsService(options: GoalsServiceOptions): ServiceSchema<ServiceSettingSchema, Methods> {
	const db = new Database(options.dbUri, { schema: serviceSchema(SOURCES.goals), poolMax: options.dbPoolMax });
	const store = new GoalStore(db);
	const log = new EventLog<GoalEvent>(db, SOURCES.goals);
	const relay = options.eventStream ? new LogRelay({ source: SOURCES.goals, db, log, ...options.eventStream }) : undefined;
	const checkpoints = new Checkpoints(db);
	const retries = new RetryStore(db, SOURCES.goals, options.retryPolicy);
	const pauses = new PauseStore(db, SOURCES.goals, options.pausePolicy);
	const faults = options.faults ? new FaultInjector(options.faults) : undefined;
	const clients = new ClientProjection(store, log);
	let logger: Logger | undefined;
	// Our own breaker, not Moleculer's: that one misses timeouts and, with disableBalancer, would
	// not spare this call its timeout even when open (see lib/infra/circuit-breaker.ts).
	const clientCheck = new CircuitBreaker(INTERNAL_ACTIONS.clientsLookup, {
		...options.clientCheckBreaker,
		counts: countsAgainstBreaker,
		onChange(state, { count, failures }) {
			if (state === "open") logger?.warn(`Client check circuit opened (${failures} of ${count} calls failed): answering from the local copy.`);
			else logger?.info(`Client check circuit ${state}.`);
		},
	});

	return {
		name: "goals",
		// Lifecycle order: the last mixin starts first and stops last, so the database
		// connects before the consumer starts and closes after it stops.
		mixins: [
			// the relay starts after the database opened and stops before it closes
			...(relay ? [LogRelayMixin(SOURCES.goals, relay)] : []),
			EventConsumerMixin({
				consumer: CONSUMERS.goals,
				catchUpIntervalMs: options.catchUpIntervalMs,
				db,
				projection: clients,
				checkpoints,
				retries,
				pauses,
				deadLetterRetentionDays: options.deadLetterRetentionDays,
				faults,
			}),
			EventLogMixin({ source: SOURCES.goals, db, log, faults, onCommitted: relay && (() => relay.poke()) }),
			...(faults ? [FaultInjectionMixin(faults)] : []),
			DatabaseMixin(db, store.goals),
		],

		actions: {
			create: {
				params: ACTION_PARAMS["goals.create"],
				async handler(ctx: Context<{ clientId: number; goalName: string; targetAmount: number }>) {
					const { clientId, goalName } = ctx.params;
					const targetCents = toCents(ctx.params.targetAmount);
					const check = await this.checkClient(ctx, clientId);
					if (check !== "unavailable" && (check === null || check.deleted)) throw clientNotFound(clientId);

					return this.write(ctx, async (sql) => {
						// What the client service just told us is the newest we know: keep it.
						const learned =
							check === "unavailable"
								? { effects: noEffects(), held: undefined }
								: await clients.learn(sql, { clientId, name: check.name, email: check.email, version: check.version, deleted: false });
						// decided on our copy as held under its lock (learn's read, or the store's): a deletion may have arrived since the call
						const { row, event: decided } = await store.create(sql, { clientId, goalName, targetCents }, learned.held);
						return {
							result: presentGoal(row),
							entityId: row.id,
							event: decided,
							fields: goalEventFields(row),
							cacheKeys: [cacheKeys.lists("goals")],
							effects: learned.effects,
						};
					});
				},
			},

			list: {
				cache: true,
				params: ACTION_PARAMS["goals.list"],
				async handler(ctx: Context<PageRequest & { clientId?: number }>) {
					const { page, pageSize, offset } = pageWindow(ctx.params);
					const { rows, total } = await store.listAlive({ clientId: ctx.params.clientId }, offset, pageSize);
					return toPage(rows.map(presentGoal), total, page, pageSize);
				},
			},

			get: {
				cache: true,
				params: ACTION_PARAMS["goals.get"],
				async handler(ctx: Context<{ id: number }>) {
					const row = await store.findAlive(ctx.params.id);
					if (!row) throw new EntityNotFoundError("Goal", ctx.params.id);
					return presentGoal(row);
				},
			},

			update: {
				params: ACTION_PARAMS["goals.update"],
				async handler(ctx: Context<{ id: number; goalName?: string; targetAmount?: number }>) {
					requireChanges(ctx.params, ["goalName", "targetAmount"]);
					const { id, goalName, targetAmount } = ctx.params;
					const targetCents = targetAmount === undefined ? undefined : toCents(targetAmount);
					return this.write(ctx, async (sql) => {
						const { row, event: decided, write } = await store.update(sql, { id, goalName, targetCents });
						return {
							write,
							result: presentGoal(row),
							entityId: id,
							event: decided,
							fields: goalEventFields(row),
							cacheKeys: [cacheKeys.entity("goals", id), cacheKeys.lists("goals")],
						};
					});
				},
			},

			remove: {
				params: ACTION_PARAMS["goals.remove"],
				async handler(ctx: Context<{ id: number }>) {
					const { id } = ctx.params;
					return this.write(ctx, async (sql) => {
						const { row, event: decided, write } = await store.remove(sql, { id });
						return {
							write,
							result: null,
							entityId: id,
							event: decided,
							fields: goalEventFields(row),
							cacheKeys: [cacheKeys.entity("goals", id), cacheKeys.lists("goals")],
						};
					});
				},
			},

			/** GET /goals/:id/events: the audit trail, kept after deletion; at most 1,000 events an answer. */
			history: {
				params: ACTION_PARAMS["goals.history"],
				async handler(ctx: Context<{ id: number } & HistoryRequest>) {
					const { afterVersion, limit } = historyWindow(ctx.params);
					const events = await log.history(ctx.params.id, afterVersion, limit);
					// nothing after a version the trail already holds is an empty page, not a 404
					if (events.length === 0 && (afterVersion === 0 || !(await log.hasHistory(ctx.params.id)))) {
						throw new EntityNotFoundError("Goal", ctx.params.id);
					}
					return events;
				},
			},

			/** Internal: a client's living goals, for GET /clients/:id/goals: its first CLIENT_GOALS_MAX by id. */
			ofClient: {
				visibility: "public",
				params: { clientId: idParam, $$strict: true },
				async handler(ctx: Context<{ clientId: number }>) {
					return (await store.aliveOf(ctx.params.clientId, CLIENT_GOALS_MAX)).map(presentGoal);
				},
			},
		},

		created() {
			logger = this.logger;
		},

		methods: {
			/**
			 * Ask the client service about a client; "unavailable" if it cannot answer in time or
			 * the breaker is open (then without waiting at all).
			 */
			async checkClient(ctx: Context, clientId: number): Promise<ClientCheck> {
				try {
					return await clientCheck.run(() =>
						ctx.call<ClientLookup | null, { id: number }>(
							INTERNAL_ACTIONS.clientsLookup,
							{ id: clientId },
							{ timeout: options.clientCheckTimeoutMs, retries: 0 },
						),
					);
				} catch (err) {
					if (!isUnavailable(err)) throw err;
					// an open circuit was logged once when it opened, not on every goal
					if (!(err instanceof CircuitOpenError)) {
						this.logger.warn(`Client check for ${clientId} failed (${(err as Error).message}); using the local copy.`);
					}
					return "unavailable";
				}
			},
		},
	};
}
