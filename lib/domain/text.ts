/**
 * Text the API accepts: well-formed Unicode without control characters. A lone surrogate
 * ("\ud800") cannot be encoded in UTF-8, so the databases would store U+FFFD (SQLite) or fail
 * (a 500): what a 2xx answer showed would not be what was stored. Control characters (C0 with
 * NUL, which PostgreSQL refuses, DEL, and C1 with U+0085 NEXT LINE) have no place in a name or
 * an address, and newlines inside a name break every log line and CSV export that shows it.
 */

/**
 * Any control character (\p{Cc}: U+0000-001F, U+007F-009F) or lone surrogate (\p{Cs}: with the
 * `u` flag a well-formed pair is one astral code point and never matches).
 */
const NOT_TEXT = /[\p{Cc}\p{Cs}]/u;

export function isWellFormedText(value: string): boolean {
	return !NOT_TEXT.test(value);
}

/** An error a fastest-validator `custom` check pushes; the rule's `messages[type]` words it. */
export interface CheckError {
	type: string;
	actual?: unknown;
	expected?: unknown;
}

/** A fastest-validator `custom` check (Moleculer turns on its new signature): push errors, return the value. */
export type CustomCheck = (value: unknown, errors: CheckError[]) => unknown;

export const TEXT_MESSAGES = {
	text: "The '{field}' field must be well-formed Unicode text without control characters.",
} as const;

/** `custom` check for any text field; runs on the value as the rule left it (trimmed, if it trims). */
export const wellFormedText: CustomCheck = (value, errors) => {
	if (typeof value === "string" && !isWellFormedText(value)) errors.push({ type: "text", actual: value });
	return value;
};
