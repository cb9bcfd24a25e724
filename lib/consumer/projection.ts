/**
 * What a consumer engine needs from the service that keeps a projection: how to apply a batch
 * of the producer's events inside a transaction, set-based and version-guarded.
 */
import type { Effects } from "../event-log/effects";
import type { DomainEvent } from "../domain/events";
import type { Sql } from "../storage/sql";

export interface BatchResult<E extends DomainEvent> {
	/** events that changed the projection */
	applied: E[];
	/** events the version guard skipped (duplicate, replayed, older, after a tombstone) */
	stale: E[];
	/** what to settle after the commit: cache keys it staled, events it appended */
	effects: Effects;
}

export interface Projection<E extends DomainEvent> {
	/** the entity an event is about: events of one entity are never applied concurrently */
	entityOf(event: E): number;
	/**
	 * Apply `events` (any order) in `sql`'s transaction. Throwing undoes the whole batch; the
	 * engine then applies its events one by one.
	 */
	applyBatch(sql: Sql, events: E[]): Promise<BatchResult<E>>;
}
