/**
 * Edit before replay (CONTRACT.md, `PUT /api/admin/dead-letters/:id`): an operator replaces a
 * dead letter's event, and the edit must be an event its consumer would take. It is checked as a
 * consumed event is (lib/domain/event-schema.ts), and it must stay the same event: its eventId,
 * sequence, version and entity id are the original's (its place in the producer's log and in the
 * entity's history), so a replay can only correct what the event says, never invent another.
 * A payload that was refused as it came and is no object has no such fields to keep: it can
 * only be discarded. Pure.
 */
import type { Source } from "../constants";
import { eventProblems } from "../domain/event-schema";
import type { FieldError } from "../errors";
import { entityKey } from "./dead-letter-query";

/** The fields an edit cannot change, for events of `producer`. */
export function immutableFields(producer: Source): string[] {
	return ["eventId", "sequence", "version", entityKey(producer)];
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Given the event a dead letter holds and an operator's replacement for it, then what is wrong
 * with the replacement, each entry naming its field as the request has it (`event.clientName`);
 * nothing when it may replace the original.
 */
export function editProblems(producer: Source, original: unknown, edited: unknown): FieldError[] {
	if (!isObject(original)) {
		return [{ type: "notEditable", field: "event", message: "This dead letter's payload is not an event object: it cannot be edited, only discarded." }];
	}
	if (!isObject(edited)) return [{ type: "object", field: "event", message: "The 'event' field must be an object." }];
	const problems: FieldError[] = eventProblems(producer, edited).map((problem) => ({
		type: problem.type,
		field: problem.field ? `event.${problem.field}` : "event",
		message: problem.message.replace(`'${problem.field}'`, `'event.${problem.field}'`),
	}));
	for (const field of immutableFields(producer)) {
		if (edited[field] === original[field]) continue;
		problems.push({
			type: "immutable",
			field: `event.${field}`,
			message: `The 'event.${field}' field cannot change (it is ${JSON.stringify(original[field] ?? null)}).`,
			actual: edited[field],
		});
	}
	return problems;
}
