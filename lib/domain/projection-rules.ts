/**
 * The rules a consumer follows to keep its copy of another service's entities, as pure
 * functions: no database, no clock, no broker. The stores load what is held, these decide,
 * the stores save what they decided.
 *
 * - Version guard: an event applies only if its version is above the version held.
 * - Tombstone: a deleted entity stays deleted; no later-arriving CREATED or UPDATED (necessarily
 *   of a lower version: DELETED is an entity's last event) brings it back.
 * - A batch is folded in sequence order, so the newest state of each entity is what is saved,
 *   and each event is counted once as applied or stale, exactly as one-by-one application would.
 */
import type { EventType } from "../constants";

/** What a consumer holds of an entity: its version, and whether that version is a tombstone. */
export interface Held {
	version: number;
	deleted: boolean;
}

/** What one event does to what is held. */
export type Decision =
	/** duplicate, replayed, older than held, or after the tombstone: a no-op */
	| { kind: "stale" }
	/** CREATED or UPDATED newer than held: store the event's state */
	| { kind: "upsert" }
	/** DELETED newer than held: store the tombstone (and cascade, where the consumer has one) */
	| { kind: "tombstone" };

function unreachable(value: never): never {
	throw new Error(`unknown event type ${String(value)}`);
}

export function decide(held: Held | null, event: { eventType: EventType; version: number }): Decision {
	if (held && (held.deleted || held.version >= event.version)) return { kind: "stale" };
	switch (event.eventType) {
		case "CREATED":
		case "UPDATED":
			return { kind: "upsert" };
		case "DELETED":
			return { kind: "tombstone" };
		default:
			return unreachable(event.eventType);
	}
}

/** The outcome of folding a batch of events over the states held. */
export interface Folded<S, E> {
	/** the newest state of every entity the batch changed, by entity id */
	changed: Map<number, S>;
	/** events that changed something, in sequence order */
	applied: E[];
	/** events the guard skipped */
	stale: E[];
}

/**
 * Fold `events` (any order; folded by sequence) over `held`. `stateOf` turns an event that
 * applies into the state it leaves (its `deleted` set for a tombstone).
 */
export function foldEvents<S extends Held, E extends { eventType: EventType; version: number; sequence: number }>(
	held: ReadonlyMap<number, S>,
	events: readonly E[],
	entityOf: (event: E) => number,
	stateOf: (event: E, decision: Exclude<Decision, { kind: "stale" }>) => S,
): Folded<S, E> {
	const current = new Map<number, S | null>();
	const folded: Folded<S, E> = { changed: new Map(), applied: [], stale: [] };
	for (const event of [...events].sort((a, b) => a.sequence - b.sequence)) {
		const id = entityOf(event);
		const state = current.has(id) ? (current.get(id) ?? null) : (held.get(id) ?? null);
		const decision = decide(state, event);
		if (decision.kind === "stale") {
			folded.stale.push(event);
			continue;
		}
		const next = stateOf(event, decision);
		current.set(id, next);
		folded.changed.set(id, next);
		folded.applied.push(event);
	}
	return folded;
}

/** A client as the goal service keeps it. */
export interface ClientCopy extends Held {
	clientId: number;
	name: string;
	email: string;
}

/**
 * What a new client copy means for the client's goals: a tombstone deletes the goals that are
 * still alive (each with its own goal DELETED event); a new name is copied onto them.
 */
export function clientCopyConsequences(before: ClientCopy | null, after: ClientCopy): { cascade: boolean; rename: boolean } {
	if (after.deleted) return { cascade: !before?.deleted, rename: false };
	return { cascade: false, rename: before === null || before.name !== after.name };
}
