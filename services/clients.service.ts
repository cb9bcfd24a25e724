/**
 * The client service: owns clients, publishes client.* events, and keeps its own copy of each
 * client's goals from goal.* events (consumer group "clients").
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { cacheKeys } from "../lib/infra/cache-keys";
import { Checkpoints } from "../lib/consumer/checkpoints";
import { ClientStore, clientEventFields } from "../lib/clients/client-store";
import { GoalProjection } from "../lib/clients/goal-projection";
import { ACTION_PARAMS } from "../lib/domain/action-params";
import { CONSUMERS, INTERNAL_ACTIONS, SOURCES } from "../lib/constants";
import { Database } from "../lib/storage/database";
import { serviceSchema } from "../lib/storage/migrations";
import { DependencyUnavailableError, EntityNotFoundError, isUnavailable } from "../lib/errors";
import type { ClientEvent } from "../lib/domain/events";
import { EventLog } from "../lib/event-log/event-log";
import { FaultInjector, type FaultRules } from "../lib/infra/faults";
import { RetryStore } from "../lib/consumer/retries";
import type { RetryPolicy } from "../lib/domain/retry-schedule";
import { PauseStore } from "../lib/consumer/pauses";
import type { PausePolicy } from "../lib/consumer/pause-rules";
import { type HistoryRequest, historyWindow, type PageRequest, pageWindow, toPage } from "../lib/domain/pagination";
import { idParam, requireChanges } from "../lib/domain/params";
import { type ConsumerMethods, EventConsumerMixin } from "../mixins/event-consumer.mixin";
import { type DatabaseMethods, DatabaseMixin } from "../mixins/database.mixin";
import { FaultInjectionMixin } from "../mixins/fault-injection.mixin";
import { type EventLogMethods, EventLogMixin } from "../mixins/event-log.mixin";
import { LogRelayMixin } from "../mixins/log-relay.mixin";
import { LogRelay, type StreamTarget } from "../lib/relay/log-relay";

export interface ClientsServiceOptions {
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
}

type Methods = EventLogMethods & ConsumerMethods & DatabaseMethods;

export function createClientsService(options: ClientsServiceOptions): ServiceSchema<ServiceSettingSchema, Methods> {
	const db = new Database(options.dbUri, { schema: serviceSchema(SOURCES.clients), poolMax: options.dbPoolMax });
	const store = new ClientStore(db);
	const log = new EventLog<ClientEvent>(db, SOURCES.clients);
	const relay = options.eventStream ? new LogRelay({ source: SOURCES.clients, db, log, ...options.eventStream }) : undefined;
	const checkpoints = new Checkpoints(db);
	const retries = new RetryStore(db, SOURCES.clients, options.retryPolicy);
	const pauses = new PauseStore(db, SOURCES.clients, options.pausePolicy);
	const faults = options.faults ? new FaultInjector(options.faults) : undefined;

	return {
		name: "clients",
		// Lifecycle order: the last mixin starts first and stops last, so the database
		// connects before the consumer starts and closes after it stops.
		mixins: [
			// the relay starts after the database opened and stops before it closes
			...(relay ? [LogRelayMixin(SOURCES.clients, relay)] : []),
			EventConsumerMixin({
				consumer: CONSUMERS.clients,
				catchUpIntervalMs: options.catchUpIntervalMs,
				db,
				projection: new GoalProjection(store),
				checkpoints,
				retries,
				pauses,
				deadLetterRetentionDays: options.deadLetterRetentionDays,
				faults,
			}),
			EventLogMixin({ source: SOURCES.clients, db, log, faults, onCommitted: relay && (() => relay.poke()) }),
			...(faults ? [FaultInjectionMixin(faults)] : []),
			DatabaseMixin(db, store.clients),
		],

		actions: {
			create: {
				params: ACTION_PARAMS["clients.create"],
				handler(ctx: Context<{ name: string; email: string }>) {
					return this.write(ctx, async (sql) => {
						const { row, event: decided } = await store.create(sql, { name: ctx.params.name, email: ctx.params.email });
						return { result: store.presentNew(row), entityId: row.id, event: decided, fields: clientEventFields(row), cacheKeys: [cacheKeys.lists("clients")] };
					});
				},
			},

			list: {
				cache: true,
				params: ACTION_PARAMS["clients.list"],
				async handler(ctx: Context<PageRequest>) {
					const { page, pageSize, offset } = pageWindow(ctx.params);
					const { rows, total } = await store.listAlive(offset, pageSize);
					return toPage(await store.present(rows), total, page, pageSize);
				},
			},

			get: {
				cache: true,
				params: ACTION_PARAMS["clients.get"],
				async handler(ctx: Context<{ id: number }>) {
					const row = await store.findAlive(ctx.params.id);
					if (!row) throw new EntityNotFoundError("Client", ctx.params.id);
					return (await store.present([row]))[0];
				},
			},

			update: {
				params: ACTION_PARAMS["clients.update"],
				async handler(ctx: Context<{ id: number; name?: string; email?: string }>) {
					requireChanges(ctx.params, ["name", "email"]);
					const { id, ...changes } = ctx.params;
					return this.write(ctx, async (sql) => {
						// the client's goals, for the answer, are read with the client before the change
						const { row, client, event: decided, write } = await store.update(sql, { id, ...changes });
						return {
							write,
							result: client,
							entityId: id,
							event: decided,
							fields: clientEventFields(row),
							cacheKeys: [cacheKeys.entity("clients", id), cacheKeys.lists("clients")],
						};
					});
				},
			},

			remove: {
				params: ACTION_PARAMS["clients.remove"],
				async handler(ctx: Context<{ id: number }>) {
					const { id } = ctx.params;
					return this.write(ctx, async (sql) => {
						const { row, event: decided, write } = await store.remove(sql, { id });
						return {
							write,
							result: null,
							entityId: id,
							event: decided,
							fields: clientEventFields(row),
							cacheKeys: [cacheKeys.entity("clients", id), cacheKeys.lists("clients")],
						};
					});
				},
			},

			/** GET /clients/:id/goals: the client's goals as the goal service holds them. */
			goals: {
				params: ACTION_PARAMS["clients.goals"],
				async handler(ctx: Context<{ id: number }>) {
					const row = await store.findAlive(ctx.params.id);
					if (!row) throw new EntityNotFoundError("Client", ctx.params.id);
					try {
						return await ctx.call(INTERNAL_ACTIONS.goalsOfClient, { clientId: ctx.params.id });
					} catch (err) {
						if (isUnavailable(err)) {
							throw new DependencyUnavailableError("The goal service is unavailable", { service: "goals" });
						}
						throw err;
					}
				},
			},

			/** GET /clients/:id/events: the audit trail, kept after deletion; at most 1,000 events an answer. */
			history: {
				params: ACTION_PARAMS["clients.history"],
				async handler(ctx: Context<{ id: number } & HistoryRequest>) {
					const { afterVersion, limit } = historyWindow(ctx.params);
					const events = await log.history(ctx.params.id, afterVersion, limit);
					// nothing after a version the trail already holds is an empty page, not a 404
					if (events.length === 0 && (afterVersion === 0 || !(await log.hasHistory(ctx.params.id)))) {
						throw new EntityNotFoundError("Client", ctx.params.id);
					}
					return events;
				},
			},

			/** Internal: what goal creation needs to know about a client, deleted ones included. */
			lookup: {
				visibility: "public",
				params: { id: idParam, $$strict: true },
				handler(ctx: Context<{ id: number }>) {
					return store.lookup(ctx.params.id);
				},
			},
		},
	};
}
