/**
 * The events on the wire, exactly as CONTRACT.md lists them. Each carries the entity's full
 * state after the change, so a consumer never needs the events in between to be correct.
 */
import type { EventType, Source } from "../constants";

export interface EventEnvelope {
	eventId: string;
	eventType: EventType;
	source: Source;
	timestamp: string;
	/** position in the producer's event log; strictly increasing per producer */
	sequence: number;
	/** the entity's version after the change */
	version: number;
}

export interface ClientEventFields {
	clientId: number;
	clientName: string;
	clientEmail: string;
}

export interface GoalEventFields {
	goalId: number;
	clientId: number;
	goalName: string;
	targetAmount: number;
}

export type ClientEvent = EventEnvelope & ClientEventFields & { source: "clients" };
export type GoalEvent = EventEnvelope & GoalEventFields & { source: "goals" };
export type DomainEvent = ClientEvent | GoalEvent;

/** A page of a producer's log, as served to consumers catching up. */
export interface EventPage<E extends DomainEvent> {
	events: E[];
	/** the producer's highest committed sequence when the page was read */
	lastSequence: number;
	/** the request that caused each event, by eventId, where known (lib/domain/caused-by.ts) */
	requestIds?: Record<string, string>;
}

/** An event as log lines name it: `clients #12 UPDATED (entity 5, v3)`. */
export function describeEvent(event: DomainEvent): string {
	const entity = event.source === "clients" ? event.clientId : event.goalId;
	return `${event.source} #${event.sequence} ${event.eventType} (entity ${entity}, v${event.version})`;
}
