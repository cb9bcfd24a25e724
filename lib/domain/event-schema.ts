/**
 * The schema check of a consumed event (CONTRACT.md: "a consumed event is checked against its
 * schema before it is applied; one that does not match is dead-lettered, never applied").
 * Pure: a payload in, the event or what is wrong with it out. The fields and their rules are the
 * contract's event shapes and the REST rules the producer applied when it wrote them
 * (lib/domain/params.ts), with fastest-validator (Moleculer's own copy, the services' validator).
 *
 * Range and type checks cannot tell a forged event that stays in range from a real one: an
 * event with version 2^31-1 would still pass and freeze that entity in the projection. The
 * defence against forgeries is the authenticated transport (lib/infra/transit-auth.ts); this
 * check keeps malformed events, from a bug or a compromised node, out of the projections.
 */
import { Validators } from "moleculer";
import { EVENT_TYPES, ID_MAX, type Source, SOURCES } from "../constants";
import type { ClientEvent, DomainEvent, GoalEvent } from "./events";
import { toCents } from "./money";
import { amountParam, emailParam, idParam } from "./params";
import { type CustomCheck, TEXT_MESSAGES, wellFormedText } from "./text";

export type EventCheck<E extends DomainEvent> = { ok: true; event: E } | { ok: false; problems: string[] };

/** As `new Date().toISOString()` writes it, or with an offset: 2026-01-01T00:00:00.000Z */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export const isoTimestamp: CustomCheck = (value, errors) => {
	if (typeof value === "string" && !(ISO_TIMESTAMP.test(value) && Number.isFinite(Date.parse(value)))) {
		errors.push({ type: "isoTimestamp", actual: value });
	}
	return value;
};

/** A name as the producer stored it: trimmed already (nothing here changes the payload), well-formed. */
const storedName: CustomCheck = (value, errors) => {
	if (typeof value === "string" && value.trim() !== value) errors.push({ type: "trimmed", actual: value });
	return wellFormedText(value, errors);
};

/** At most two decimals, exactly as the REST rule (money.toCents) has it. */
const twoDecimals: CustomCheck = (value, errors) => {
	if (typeof value !== "number") return value;
	try {
		toCents(value);
	} catch {
		errors.push({ type: "money", actual: value });
	}
	return value;
};

export const EVENT_MESSAGES = {
	...TEXT_MESSAGES,
	isoTimestamp: "The '{field}' field must be an ISO-8601 time.",
	trimmed: "The '{field}' field must not start or end with white space.",
	money: "The '{field}' field must have at most two decimals.",
} as const;

/** positive, whole, and within the 32-bit columns that hold them (sequence in checkpoints, version in the projections) */
const positiveInt = { type: "number", integer: true, positive: true, max: ID_MAX } as const;
const name = { type: "string", min: 1, max: 100, custom: storedName, messages: EVENT_MESSAGES } as const;

function envelope(source: Source) {
	return {
		eventId: { type: "uuid" },
		eventType: { type: "enum", values: [...EVENT_TYPES] },
		source: { type: "equal", value: source, strict: true },
		timestamp: { type: "string", max: 40, custom: isoTimestamp, messages: EVENT_MESSAGES },
		sequence: positiveInt,
		version: positiveInt,
	};
}

/**
 * Unknown fields are let through, as a consumer written for today's events would: no
 * projection reads them, and a producer one release ahead may add one.
 */
export const EVENT_SCHEMAS: Record<Source, Record<string, unknown>> = {
	clients: {
		...envelope(SOURCES.clients),
		clientId: idParam,
		clientName: name,
		clientEmail: emailParam,
	},
	goals: {
		...envelope(SOURCES.goals),
		goalId: idParam,
		clientId: idParam,
		goalName: name,
		targetAmount: { ...amountParam, custom: twoDecimals, messages: EVENT_MESSAGES },
	},
};

type Checker = (value: unknown) => true | Array<{ field?: string; message?: string; type: string }>;

// Moleculer's FastestValidator sets useNewCustomCheckerFunction, which the shared `custom` checks need
const validator = new Validators.Fastest();
const CHECKERS: Record<Source, Checker> = {
	clients: validator.compile(EVENT_SCHEMAS.clients) as unknown as Checker,
	goals: validator.compile(EVENT_SCHEMAS.goals) as unknown as Checker,
};

/** The Moleculer event an event of `producer` with `eventType` is emitted as: `client.created`, … */
function expectedName(producer: Source, eventType: string): string {
	return `${producer === SOURCES.clients ? "client" : "goal"}.${eventType.toLowerCase()}`;
}

/** One thing wrong with a payload: the field (empty when it is the whole payload), the rule, the words. */
export interface EventProblem {
	field: string;
	type: string;
	message: string;
}

/**
 * What is wrong with a payload of `producer` by its schema, field by field (nothing when it may
 * be applied). Never throws; changes nothing in the payload. The event name is checkEvent's.
 */
export function eventProblems(producer: Source, payload: unknown): EventProblem[] {
	if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
		return [{ field: "", type: "object", message: "The event must be an object." }];
	}
	let problems: EventProblem[];
	try {
		const result = CHECKERS[producer](payload);
		problems =
			result === true
				? []
				: result.map((error) => ({ field: error.field ?? "", type: error.type, message: error.message ?? `${error.field ?? "?"}: ${error.type}` }));
	} catch (err) {
		// a payload built to trip the checker itself (a getter that throws cannot come over JSON, but still)
		problems = [{ field: "", type: "unchecked", message: `The event could not be checked: ${(err as Error).message}` }];
	}
	const event = payload as DomainEvent;
	// every version of an entity is a row of its own in the producer's log, so an event's
	// version can never be above its sequence
	if (problems.length === 0 && event.version > event.sequence) {
		problems.push({
			field: "version",
			type: "versionAboveSequence",
			message: `The 'version' field (${event.version}) cannot exceed the 'sequence' field (${event.sequence}).`,
		});
	}
	return problems;
}

/**
 * Check a consumed payload from `producer`, delivered as the Moleculer event `name` (when the
 * caller knows it). Never throws; changes nothing in the payload.
 */
export function checkEvent(producer: "clients", payload: unknown, name?: string): EventCheck<ClientEvent>;
export function checkEvent(producer: "goals", payload: unknown, name?: string): EventCheck<GoalEvent>;
export function checkEvent(producer: Source, payload: unknown, name?: string): EventCheck<DomainEvent>;
export function checkEvent(producer: Source, payload: unknown, name?: string): EventCheck<DomainEvent> {
	const problems = eventProblems(producer, payload).map((problem) => problem.message);
	if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return { ok: false, problems };
	const event = payload as DomainEvent;
	const typed = (EVENT_TYPES as readonly unknown[]).includes(event.eventType);
	if (name !== undefined && !(typed && name === expectedName(producer, event.eventType))) {
		problems.push(`The event '${name}' must carry the eventType it names (it has ${JSON.stringify(event.eventType)}) and come from '${producer}'.`);
	}
	return problems.length === 0 ? { ok: true, event } : { ok: false, problems };
}
