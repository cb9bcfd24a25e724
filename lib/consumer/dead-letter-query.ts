/**
 * How dead letters are found: the filter the admin API and the REPL take (CONTRACT.md, "GET
 * /api/admin/dead-letters?…") as the WHERE clause over a consumer's retry table, and the columns
 * a row is found by (its event's type and entity id, kept beside the payload so that a filter
 * never parses JSON). Pure: the store runs the clause (lib/consumer/retries.ts).
 */
import { type DeadLetterState, EVENT_TYPES, type EventType, type Source, SOURCES } from "../constants";
import type { Dialect } from "../storage/sql";
import { sqlTime } from "../storage/sql";

export { DEAD_LETTER_STATES, type DeadLetterState } from "../constants";

/**
 * What dead letters are selected by; every key given must match (AND). `consumer` is not here:
 * it picks whose table is asked (lib/consumer/dead-letters.ts).
 */
export interface DeadLetterFilter {
	/** the event's type */
	eventType?: EventType;
	/** its client or goal id */
	entityId?: number;
	/** a substring of its last error, case as written */
	error?: string;
	/** ISO time: first failed at or after it */
	from?: string;
	/** ISO time: first failed before it */
	to?: string;
	/** `dead` when not given */
	state?: DeadLetterState;
}

export interface WhereClause {
	/** the condition, with `?` placeholders */
	text: string;
	params: unknown[];
}

/**
 * Given a filter, then the condition over `event_retries` that selects exactly its dead letters.
 * Times are bound as the dialect stores them (SQLite's text form compares in time order);
 * `from` is inclusive and `to` exclusive, so that consecutive windows never count a letter twice.
 * The error text is a plain substring (no LIKE wildcards to escape).
 */
export function deadLetterWhere(filter: DeadLetterFilter, dialect: Dialect): WhereClause {
	const parts = [`"status" = ?`];
	const params: unknown[] = [filter.state ?? "dead"];
	if (filter.eventType !== undefined) {
		parts.push(`"eventType" = ?`);
		params.push(filter.eventType);
	}
	if (filter.entityId !== undefined) {
		parts.push(`"entityId" = ?`);
		params.push(filter.entityId);
	}
	if (filter.error !== undefined) {
		parts.push(dialect === "postgres" ? `strpos("lastError", ?) > 0` : `instr("lastError", ?) > 0`);
		params.push(filter.error);
	}
	if (filter.from !== undefined) {
		parts.push(`"createdAt" >= ?`);
		params.push(sqlTime({ dialect }, new Date(filter.from)));
	}
	if (filter.to !== undefined) {
		parts.push(`"createdAt" < ?`);
		params.push(sqlTime({ dialect }, new Date(filter.to)));
	}
	return { text: parts.join(" AND "), params };
}

/** The columns a retry row is found by, read from its payload: null where the payload does not say (a refused one). */
export interface IndexedFields {
	eventType: EventType | null;
	entityId: number | null;
}

/** Whose id an event of `producer` is about: a client's (clientId) or a goal's (goalId). */
export function entityKey(producer: Source): "clientId" | "goalId" {
	return producer === SOURCES.clients ? "clientId" : "goalId";
}

/**
 * Given a payload of `producer` as it was kept (a refused one may be anything), then its event
 * type and entity id, each only where it is one the contract allows.
 */
export function indexedFields(producer: Source, payload: unknown): IndexedFields {
	if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return { eventType: null, entityId: null };
	const record = payload as Record<string, unknown>;
	const eventType = (EVENT_TYPES as readonly unknown[]).includes(record.eventType) ? (record.eventType as EventType) : null;
	const id = record[entityKey(producer)];
	const entityId = typeof id === "number" && Number.isInteger(id) && id > 0 && id <= 2_147_483_647 ? id : null;
	return { eventType, entityId };
}
