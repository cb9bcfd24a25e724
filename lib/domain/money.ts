/**
 * Money is held as integer cents from the moment it is validated: no float arithmetic anywhere
 * on the path, so sums are exact (0.1 + 0.2 is 30 cents). Amounts go back out as JSON numbers,
 * whose shortest decimal form is the amount itself (30 cents -> 0.3).
 */
import { AMOUNT_MAX } from "../constants";
import { FieldValidationError } from "../errors";

/** Plain decimal notation with at most two decimals, as JavaScript prints the number. */
const TWO_DECIMALS = /^\d+(\.\d{1,2})?$/;

export function toCents(amount: number, field = "targetAmount"): number {
	const text = String(amount);
	if (!Number.isFinite(amount) || amount <= 0 || amount > AMOUNT_MAX || !TWO_DECIMALS.test(text)) {
		throw new FieldValidationError([
			{
				type: "money",
				field,
				message: `The '${field}' field must be a number above 0 and at most ${AMOUNT_MAX} with at most two decimals.`,
				actual: amount,
			},
		]);
	}
	const [whole, fraction = ""] = text.split(".");
	return Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
}

export function fromCents(cents: number | string | bigint): number {
	// PostgreSQL returns BIGINT as a string; cents stay below 2^53 (AMOUNT_MAX * 100 = 1e14).
	const value = Number(cents);
	return value / 100;
}
