/**
 * What a producer's decision gives (lib/clients/decide.ts, lib/goals/decide.ts): given the entity
 * as it is held (or none) and a command, the entity after the command and the event to append,
 * or a typed error. Decisions are pure: the moment they are taken and the id of their event come
 * in a stamp, drawn by the store from the clock and id generator it was handed.
 */
import type { EventType } from "../constants";

/** When a decision is taken, and the id its event gets. */
export interface DecisionStamp {
	now: Date;
	eventId: string;
}

/** Draws a stamp: the system's clock and random UUIDs, or a test's fixed ones. */
export type StampSource = () => DecisionStamp;

/**
 * An event as a decision makes it. Its payload is the entity after the change (every event
 * carries the full state), and the log gives it its sequence when it is appended.
 */
export interface EventDraft {
	eventType: EventType;
	eventId: string;
	timestamp: string;
	/** the entity's version after the change */
	version: number;
}

export interface Decision<S> {
	state: S;
	event: EventDraft;
}

export function eventDraft(eventType: EventType, version: number, stamp: DecisionStamp): EventDraft {
	return { eventType, eventId: stamp.eventId, timestamp: stamp.now.toISOString(), version };
}
