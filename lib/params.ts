/**
 * Parameter rules shared by the services' action schemas (fastest-validator). Every schema is
 * strict: an unknown field is a 422 naming it, never silently dropped.
 */
import { AMOUNT_MAX, ID_MAX } from "./constants";
import { FieldValidationError } from "./errors";

export const idParam = { type: "number", integer: true, positive: true, max: ID_MAX, convert: true } as const;

export const nameParam = { type: "string", trim: true, min: 1, max: 100 } as const;

export const emailParam = { type: "email", max: 254 } as const;

/** Range and type here; the two-decimals rule is checked exactly by money.toCents. */
export const amountParam = { type: "number", positive: true, max: AMOUNT_MAX } as const;

/** An update must change something: at least one of `fields` present. */
export function requireOneOf(params: object, fields: readonly string[]): void {
	if (fields.some((field) => field in params)) return;
	throw new FieldValidationError(
		fields.map((field) => ({
			type: "required",
			field,
			message: `At least one of ${fields.map((f) => `'${f}'`).join(", ")} is required.`,
		})),
	);
}
