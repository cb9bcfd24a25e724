/**
 * Snapshots, as pure rules: what a page of a producer's snapshot is, how its cursor moves, when
 * a consumer starts from one, what a rebuild writes and deletes, and how its progress reads.
 *
 * A snapshot at sequence S is, for every entity, its last event with sequence ≤ S: events carry
 * the entity's full state, and a deleted entity's last event is its DELETED tombstone (which a
 * consumer keeps, so that an older event arriving late stays a no-op). Appends are serialised and
 * the log is append-only, so once S is visible every row ≤ S is committed and never changes: the
 * pages of one snapshot, read one after the other without a transaction between them, are
 * consistent however many writes happen meanwhile.
 */
import type { DomainEvent } from "./events";
import type { Held } from "./projection-rules";

/** A page of a producer's snapshot, by entity id. */
export interface SnapshotPage<E extends DomainEvent> {
	/** the log sequence the snapshot is valid at (the log's head when its first page was asked) */
	atSequence: number;
	/** the last event of each entity of the page, by entity id */
	events: E[];
	/** the entity id to ask the next page after, or null: this was the last page */
	next: number | null;
	/** entities in the whole snapshot: on the first page only (it costs a count) */
	total?: number;
	/** the request that caused each event, by eventId, where known (lib/domain/caused-by.ts) */
	requestIds?: Record<string, string>;
}

/**
 * The snapshot at `atSequence` of a log held in memory, by entity id: each entity's last event
 * with sequence ≤ atSequence. What the producer's query computes (lib/event-log/event-log.ts),
 * as a specification: tests compare the pages against it.
 */
export function lastEventsAt<E extends { sequence: number }>(events: readonly E[], atSequence: number, entityOf: (event: E) => number): E[] {
	const last = new Map<number, E>();
	for (const event of events) {
		if (event.sequence > atSequence) continue;
		const held = last.get(entityOf(event));
		if (!held || held.sequence < event.sequence) last.set(entityOf(event), event);
	}
	return [...last.entries()].sort(([a], [b]) => a - b).map(([, event]) => event);
}

/** Where the next page starts: after the page's last entity, unless the page was not full (the end). */
export function nextCursor(entityIds: readonly number[], limit: number): number | null {
	if (entityIds.length < limit || entityIds.length === 0) return null;
	return entityIds[entityIds.length - 1];
}

/** The sequence a page is read at: the first page's is the head; later pages name theirs, which may not lie ahead of the head. */
export function snapshotSequence(asked: number | undefined, head: number): { ok: true; atSequence: number } | { ok: false } {
	if (asked === undefined) return { ok: true, atSequence: head };
	return asked <= head ? { ok: true, atSequence: asked } : { ok: false };
}

/**
 * Whether a catch-up starts from the producer's snapshot: only a consumer with no checkpoint
 * (new, or reset by removing it). A checkpoint at 0 is a position like any other: that consumer
 * replays the log from its start (DESIGN.md: replay from zero must keep working).
 */
export function startsFromSnapshot(checkpoint: number | null): boolean {
	return checkpoint === null;
}

/** What a rebuild does to the held rows of one snapshot page's range of entity ids. */
export interface RebuildPlan<E> {
	/** snapshot states to write over what is held (held no newer than the snapshot) */
	write: E[];
	/** snapshot states left alone: the held row is newer (a live event after S applied it) */
	newer: E[];
	/**
	 * held entities of the range the snapshot does not have: removed at the rebuild's end, with the
	 * checkpoint moved back to S, so the log after S brings back any created since
	 */
	remove: number[];
}

/**
 * Plan a rebuild page. `range` is (after, upTo]: the entity ids this page speaks for (upTo null:
 * to the end, on the last page). A held row at the snapshot's version or older is overwritten
 * (an equal version too: that is what repairs a damaged row); a newer one stays (a live event after
 * S made it, and an event after S always has a higher version than the entity had at S); a held
 * row the snapshot lacks is to be removed.
 */
export function planRebuildPage<E extends { version: number }>(
	held: ReadonlyMap<number, Held>,
	snapshot: readonly E[],
	entityOf: (event: E) => number,
	range: { after: number; upTo: number | null },
): RebuildPlan<E> {
	const plan: RebuildPlan<E> = { write: [], newer: [], remove: [] };
	const inSnapshot = new Set<number>();
	for (const event of snapshot) {
		const id = entityOf(event);
		inSnapshot.add(id);
		const current = held.get(id);
		if (current && current.version > event.version) plan.newer.push(event);
		else plan.write.push(event);
	}
	for (const id of [...held.keys()].sort((a, b) => a - b)) {
		if (id <= range.after || (range.upTo !== null && id > range.upTo)) continue;
		if (!inSnapshot.has(id)) plan.remove.push(id);
	}
	return plan;
}

/** The range of entity ids a page speaks for: after the previous cursor, up to its own (or the end). */
export function pageRange(after: number, next: number | null): { after: number; upTo: number | null } {
	return { after, upTo: next };
}

export type SnapshotMode = "bootstrap" | "rebuild";

/** A progress line: `Bootstrapping goals' copy of clients from snapshot at #S: 40,000 / 100,000 entities`. */
export function progressLine(mode: SnapshotMode, copy: string, atSequence: number, done: number, total: number | undefined): string {
	const verb = mode === "bootstrap" ? "Bootstrapping" : "Rebuilding";
	const of = total === undefined ? "" : ` / ${total.toLocaleString("en-US")}`;
	return `${verb} ${copy} from snapshot at #${atSequence}: ${done.toLocaleString("en-US")}${of} entities`;
}

/** Whether to log progress now: every `everyMs`, so a long run says where it is and a short one stays quiet. */
export function progressDue(lastAt: number, now: number, everyMs: number): boolean {
	return now - lastAt >= everyMs;
}
