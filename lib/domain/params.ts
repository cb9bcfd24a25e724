/**
 * Parameter rules shared by the services' action schemas (fastest-validator). Every schema is
 * strict: an unknown field is a 422 naming it, never silently dropped.
 */
import { AMOUNT_MAX, ID_MAX } from "../constants";
import { FieldValidationError } from "../errors";

/**
 * No rule converts types: JSON bodies carry real numbers, and the gateway turns the decimal
 * text of paths and query strings into numbers before the call.
 */
export const idParam = { type: "number", integer: true, positive: true, max: ID_MAX } as const;

export const nameParam = { type: "string", trim: true, min: 1, max: 100 } as const;

/** precise: the default pattern (\S+@\S+\.\S+) takes "ann@@example.com" for an address. */
export const emailParam = { type: "email", mode: "precise", max: 254 } as const;

/** Range and type here; the two-decimals rule is checked exactly by money.toCents. */
export const amountParam = { type: "number", positive: true, max: AMOUNT_MAX } as const;

/**
 * An update must change something: at least one of `fields` present, and none of them null
 * (fastest-validator lets null through an optional rule, as if the field were absent).
 */
export function requireChanges(params: Record<string, unknown>, fields: readonly string[]): void {
	const nulls = fields.filter((field) => field in params && params[field] === null);
	if (nulls.length > 0) {
		throw new FieldValidationError(
			nulls.map((field) => ({ type: "notNull", field, message: `The '${field}' field cannot be null.`, actual: null })),
		);
	}
	if (fields.some((field) => field in params)) return;
	throw new FieldValidationError(
		fields.map((field) => ({
			type: "required",
			field,
			message: `At least one of ${fields.map((f) => `'${f}'`).join(", ")} is required.`,
		})),
	);
}
