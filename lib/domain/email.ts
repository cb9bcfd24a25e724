/**
 * Email addresses: fastest-validator's "precise" pattern, with one change, and a length that
 * holds for the lower-cased form the uniqueness key stores.
 */
import { type CustomCheck, isWellFormedText } from "./text";

/** At most 254 characters (RFC 5321's path limit less its angle brackets), lower-cased too. */
export const EMAIL_MAX = 254;

/**
 * fastest-validator's PRECISE_PATTERN (lib/rules/email.js, 1.19), whose top-level domain must be
 * letters only: that refuses every internationalised TLD in its ASCII (punycode) form, such as
 * `ann@example.xn--p1ai` (.рф). Here the TLD is letters, or `xn--` (any case) and letters,
 * digits and hyphens not ending in a hyphen. The local part still refuses whitespace, `@` and the specials.
 */
const EMAIL_ADDRESS =
	/^(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+([a-zA-Z]{2,}|[xX][nN]--[a-zA-Z0-9-]*[a-zA-Z0-9])))$/;

export function isEmailAddress(value: string): boolean {
	return EMAIL_ADDRESS.test(value);
}

/**
 * `custom` check for an email field typed `string` with `max: EMAIL_MAX`: well-formed text, the
 * address pattern, then the length of the lower-cased form, which can be longer than the address
 * ("İ" lower-cases to two UTF-16 units) and is what the unique key column (254 characters)
 * holds. One error at most, the first found; an address already too long was reported by `max`.
 */
export const emailAddress: CustomCheck = (value, errors) => {
	if (typeof value !== "string" || value.length > EMAIL_MAX) return value;
	if (!isWellFormedText(value)) errors.push({ type: "text", actual: value });
	else if (!isEmailAddress(value)) errors.push({ type: "email", actual: value });
	else if (value.toLowerCase().length > EMAIL_MAX) errors.push({ type: "emailMax", expected: EMAIL_MAX, actual: value.toLowerCase().length });
	return value;
};
