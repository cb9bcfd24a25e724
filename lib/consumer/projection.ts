/**
 * What a consumer engine needs from the service that keeps a projection: how to apply a batch
 * of the producer's events inside a transaction, set-based and version-guarded.
 */
import type { Effects } from "../event-log/effects";
import type { DomainEvent } from "../domain/events";
import type { Closing } from "../storage/copy-table";
import type { Sql } from "../storage/sql";

export interface BatchResult<E extends DomainEvent> {
	/** events that changed the projection */
	applied: E[];
	/** events the version guard skipped (duplicate, replayed, older, after a tombstone) */
	stale: E[];
	/** what to settle after the commit: cache keys it staled, events it appended */
	effects: Effects;
	/** the answer of the `closing` it ended the transaction with (committed), absent when it did not */
	closed?: number[];
}

export interface Projection<E extends DomainEvent> {
	/** the entity an event is about: events of one entity are never applied concurrently */
	entityOf(event: E): number;
	/**
	 * Apply `events` (any order) in `sql`'s transaction. Throwing undoes the whole batch; the
	 * engine then applies its events one by one. `closing`: statements that may end the
	 * transaction with the batch's last statement, COMMIT included, if nothing else follows it;
	 * `closed` says whether they did.
	 */
	applyBatch(sql: Sql, events: E[], closing?: Closing): Promise<BatchResult<E>>;
	/**
	 * A rebuild's page, in `sql`'s transaction: make the held rows whose ids lie in `range`
	 * (after, upTo] (upTo null: to the end) what the snapshot page says, in place: each written over
	 * a held row at its version or older, a newer held row left alone (lib/domain/snapshot.ts
	 * planRebuildPage). `applied` are the events whose row changed; `absent` the held ids of the
	 * range the snapshot lacks, which the rebuild removes at its end (removeCopies).
	 */
	rebuildPage?(sql: Sql, snapshot: E[], range: { after: number; upTo: number | null }): Promise<BatchResult<E> & { absent: number[] }>;
	/** Remove held rows (a rebuild's `absent`); what to settle after the commit. */
	removeCopies?(sql: Sql, ids: number[]): Promise<Effects>;
}
