/**
 * Producer side of the event log. The service writes its change and appends the event in one
 * transaction (see EventLog.append); this mixin serves the log to consumers catching up and
 * settles a committed transaction's effects: evict stale cache entries, then publish.
 * Publishing is the fast path only: a lost publish is repaired by the consumers' catch-up.
 * Every write is done at most once per request (lib/event-log/request-keys.ts).
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { CATCH_UP_PAGE_SIZE, CLIENT_EVENTS, SNAPSHOT_PAGE_SIZE, GOAL_EVENTS, KNOWN_CONSUMERS, METRICS, type Source } from "../lib/constants";
import { type Effects, noEffects } from "../lib/event-log/effects";
import type { EntityWrite } from "../lib/event-log/entity-write";
import { causeOf, requestTag } from "../lib/domain/caused-by";
import { type DomainEvent, describeEvent } from "../lib/domain/events";
import type { Database } from "../lib/storage/database";
import type { EventFields, EventLog } from "../lib/event-log/event-log";
import type { EventDraft } from "../lib/domain/decision";
import type { Sql } from "../lib/storage/sql";
import { FieldValidationError } from "../lib/errors";
import { type RequestKey, RequestKeys, decideRepeat, requestKeyOf } from "../lib/event-log/request-keys";
import { CacheEvictor } from "../lib/infra/cache-evictor";
import type { FaultInjector } from "../lib/infra/faults";
import { count, registerMetrics } from "../lib/infra/metrics";

export interface EventLogMethods {
	settle(effects: Effects, ctx?: Context): Promise<void>;
	/**
	 * The one write path of every handler: run `work` in a transaction, append the event it
	 * decided (with the request's key, and the COMMIT), settle its effects after the commit
	 * (evict, then publish), and return its result.
	 */
	write<R>(ctx: Context, work: (sql: Sql) => Promise<WriteDecision<R>>): Promise<R>;
}

/** What a write's work decided and wrote: `write` appends its event and commits. */
export interface WriteDecision<R> {
	/** the answer, also what a repeat of the request is answered */
	result: R;
	/** the write's event: its entity, as decided with the change (lib/domain/decision.ts), and its payload (the entity after it) */
	entityId: number;
	event: EventDraft;
	fields: EventFields<DomainEvent>;
	/** cache entries the change makes stale */
	cacheKeys: string[];
	/** what else the transaction left to settle (a client copy learned on the way) */
	effects?: Effects;
	/** the change itself when the work left it unsent: it runs with the event's append (lib/event-log/entity-write.ts) */
	write?: EntityWrite;
}

/** What the gateway passes on with a write: the client's Idempotency-Key, scoped to method and path. */
export interface WriteMeta {
	idempotencyKey?: string;
}

/** How often keys older than 24 h are deleted */
const PURGE_EVERY_MS = 60 * 60 * 1000;

export function eventName(event: DomainEvent): string {
	return event.source === "clients" ? CLIENT_EVENTS[event.eventType] : GOAL_EVENTS[event.eventType];
}

export function EventLogMixin<E extends DomainEvent>(options: {
	source: Source;
	db: Database;
	log: EventLog<E>;
	/** tests only: may kill the process between a commit and its publish */
	faults?: FaultInjector;
	/** told after each commit with events (the relay to the AMQP stream: it publishes off this path) */
	onCommitted?: () => void;
}): Partial<ServiceSchema> {
	const { source, db, log, faults, onCommitted } = options;
	const requestKeys = new RequestKeys(db);
	let purgeTimer: NodeJS.Timeout | undefined;
	const schema: Partial<ServiceSchema<ServiceSettingSchema, EventLogMethods, { cacheEvictor: CacheEvictor }>> = {
		created() {
			registerMetrics(this.broker);
			this.cacheEvictor = new CacheEvictor(this.broker.cacher, this.logger);
		},
		started() {
			purgeTimer = setInterval(() => {
				requestKeys.purge().catch((err: Error) => this.logger.warn(`Purging old request keys failed (${err.message}); trying again in an hour.`));
			}, PURGE_EVERY_MS);
			purgeTimer.unref();
		},
		stopped() {
			clearInterval(purgeTimer);
			this.cacheEvictor.stop();
		},
		actions: {
			/** Internal: a page of the log after a sequence, for consumers catching up. */
			eventsAfter: {
				visibility: "public",
				params: {
					after: { type: "number", integer: true, min: 0 },
					limit: { type: "number", integer: true, positive: true, max: CATCH_UP_PAGE_SIZE, optional: true },
					$$strict: true,
				},
				handler(ctx: Context<{ after: number; limit?: number }>) {
					return log.readAfter(ctx.params.after, ctx.params.limit ?? CATCH_UP_PAGE_SIZE);
				},
			},
			/**
			 * Internal: a page of the snapshot (each entity's last event at a sequence), for a consumer
			 * with no checkpoint or rebuilding. The first page names its sequence; later pages pass it back.
			 */
			snapshot: {
				visibility: "public",
				params: {
					atSequence: { type: "number", integer: true, min: 0, optional: true },
					afterEntity: { type: "number", integer: true, min: 0 },
					limit: { type: "number", integer: true, positive: true, max: SNAPSHOT_PAGE_SIZE },
					$$strict: true,
				},
				handler(ctx: Context<{ atSequence?: number; afterEntity: number; limit: number }>) {
					return log.snapshot(ctx.params.atSequence, ctx.params.afterEntity, ctx.params.limit);
				},
			},
			/** Internal: the log's last sequence, from which consumers' lag is counted. */
			eventsHead: {
				visibility: "public",
				params: { $$strict: true },
				async handler(): Promise<{ lastSequence: number }> {
					return { lastSequence: await log.lastSequence() };
				},
			},
		},
		methods: {
			async write<R>(ctx: Context, work: (sql: Sql) => Promise<WriteDecision<R>>): Promise<R> {
				const request = requestKeyOf({
					idempotencyKey: (ctx.meta as WriteMeta).idempotencyKey,
					requestId: ctx.id,
					params: ctx.params,
					clustered: Boolean(this.broker.transit),
				});
				try {
					const { result, effects } = await db.transaction(async (sql) => {
						const decided = await work(sql);
						// the transaction's last statement: the event, the request's key with the answer, the COMMIT
						const event = await log.appendDecided(sql, decided.entityId, decided.event, decided.fields as EventFields<E>, {
							requestId: ctx.requestID ?? undefined,
							remember: request ? { keys: requestKeys, request, answer: decided.result } : undefined,
							last: true,
							entityWrite: decided.write,
						});
						const effects = decided.effects ?? noEffects();
						return {
							result: decided.result,
							effects: { cacheKeys: [...new Set([...effects.cacheKeys, ...decided.cacheKeys])], events: [...effects.events, event] },
						};
					});
					await this.settle(effects, ctx);
					return result;
				} catch (err) {
					if (!request) throw err;
					// A repeat: its key collided with the first one's, or its work failed because the
					// first one did it already (a second DELETE finds nothing to delete).
					// (a RepeatedRequest without a stored answer: only a purge between the collision and
					// this read could do that, to a key 24 h old; it is then the 409 it is)
					const stored = await requestKeys.recall(request.key).catch(() => null);
					if (stored) return replay(stored, request) as R;
					throw err;
				}
			},

			async settle(effects: Effects, ctx?: Context): Promise<void> {
				if (effects.events.length > 0) {
					faults?.crashAfterCommit();
					onCommitted?.();
				}
				await this.cacheEvictor.evict(effects.cacheKeys);
				for (const event of effects.events) {
					const name = eventName(event);
					const failed = (err: unknown) =>
						this.logger.warn(`Publishing ${name} #${event.sequence} failed (${(err as Error).message}); consumers will catch up from the log.`);
					try {
						// With a transporter, emit to every known consumer group explicitly: Moleculer
						// publishes nothing to a group none of whose nodes is online.
						const groups = this.broker.transit ? [...new Set([...KNOWN_CONSUMERS[source], ...this.broker.getEventGroups(name)])] : undefined;
						// the request that caused it travels as the event's request id: from the action's
						// context, or (an event a consumer caused, e.g. a cascade) as noted beside it
						const requestID = ctx?.requestID ?? causeOf(event);
						const opts = { ...(groups ? { groups } : {}), ...(ctx || !requestID ? {} : { requestID }) };
						this.logger.debug(`Committed ${describeEvent(event)}${requestTag(event)}.`);
						const delivered = ctx ? ctx.emit(name, event, opts) : this.broker.emit(name, event, opts);
						if (this.broker.transit) {
							// the publish to the broker: quick, and it holds a producer back when the broker does
							await delivered;
						} else {
							// Without a transporter the "publish" is the local consumers applying the event (a
							// second commit, on the other database); the writer is not kept waiting for it.
							// Events are handed over in commit order all the same: emit runs them synchronously.
							Promise.resolve(delivered).catch(failed);
						}
						count(this.broker, METRICS.eventsPublished, { event: name });
					} catch (err) {
						failed(err);
					}
				}
			},
		},
	};
	/** A repeat's answer: the first one's, unless the key came with other params (422). */
	function replay(stored: { paramsHash: string; result: unknown }, request: RequestKey): unknown {
		const repeat = decideRepeat(stored, request);
		if (repeat.kind === "replay") return repeat.result;
		throw new FieldValidationError([
			{ type: "idempotencyKeyReused", field: "Idempotency-Key", message: "This Idempotency-Key was already used with another request." },
		]);
	}

	return schema as Partial<ServiceSchema>;
}
