/**
 * Parameter rules shared by the services' action schemas (fastest-validator). Every schema is
 * strict: an unknown field is a 422 naming it, never silently dropped.
 */
import { AMOUNT_MAX, ID_MAX } from "../constants";
import { FieldValidationError } from "../errors";
import { EMAIL_MAX, emailAddress } from "./email";
import { TEXT_MESSAGES, wellFormedText } from "./text";

/**
 * No rule converts types: JSON bodies carry real numbers, and the gateway turns the decimal
 * text of paths and query strings into numbers before the call.
 */
export const idParam = { type: "number", integer: true, positive: true, max: ID_MAX } as const;

/** Names (a client's, a goal's): trimmed, 1..100 characters, well-formed text (lib/domain/text.ts). */
export const nameParam = { type: "string", trim: true, min: 1, max: 100, custom: wellFormedText, messages: TEXT_MESSAGES } as const;

/**
 * Not fastest-validator's `email` rule: its precise pattern refuses internationalised top-level
 * domains, and it cannot check the lower-cased length or the text (lib/domain/email.ts does).
 * Its wording stays: a bad address is an `email` error, a long one `stringMax` or `emailMax`.
 */
export const emailParam = { type: "string", max: EMAIL_MAX, custom: emailAddress, messages: TEXT_MESSAGES } as const;

/** Range and type here; the two-decimals rule is checked exactly by money.toCents. */
export const amountParam = { type: "number", positive: true, max: AMOUNT_MAX } as const;

/**
 * An update must change something: at least one of `fields` present, and none of them null
 * (fastest-validator lets null through an optional rule, as if the field were absent).
 */
export function requireChanges(params: Record<string, unknown>, fields: readonly string[]): void {
	const nulls = fields.filter((field) => field in params && params[field] === null);
	if (nulls.length > 0) {
		throw new FieldValidationError(nulls.map((field) => ({ type: "notNull", field, message: `The '${field}' field cannot be null.`, actual: null })));
	}
	// not `in`: a rule with a `custom` check writes its field back, so an absent one is there as undefined
	if (fields.some((field) => params[field] !== undefined)) return;
	throw new FieldValidationError(
		fields.map((field) => ({
			type: "required",
			field,
			message: `At least one of ${fields.map((f) => `'${f}'`).join(", ")} is required.`,
		})),
	);
}
