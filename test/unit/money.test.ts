/** lib/domain/money: amounts become exact integer cents on the way in and JSON numbers on the way out. */
import { Errors } from "moleculer";
import { FieldValidationError } from "../../lib/errors";
import { fromCents, toCents } from "../../lib/domain/money";

describe("toCents", () => {
	test.each([
		[0.01, 1],
		[0.1, 10],
		[0.2, 20],
		[0.29, 29], // 0.29 * 100 is 28.999999999999996 in floating point
		[1, 100],
		[19.99, 1999],
		[100.5, 10050],
		[1.1, 110],
		[999_999_999_999.99, 99_999_999_999_999],
		[1e12, 1e14],
	])("%p is exactly %p cents", (amount, cents) => {
		expect(toCents(amount)).toBe(cents);
		expect(Number.isInteger(toCents(amount))).toBe(true);
	});

	test.each([
		["zero", 0],
		["negative zero", -0],
		["a negative amount", -1],
		["three decimals", 10.001],
		["three decimals that round to two", 1.005],
		["a tiny amount in exponent notation", 1e-7],
		["one cent over the maximum", 1e12 + 0.01],
		["far over the maximum", 1e21],
		["NaN", Number.NaN],
		["Infinity", Number.POSITIVE_INFINITY],
		["-Infinity", Number.NEGATIVE_INFINITY],
	])("rejects %s with a 422 naming the field", (_what, amount) => {
		let thrown: unknown;
		try {
			toCents(amount);
		} catch (err) {
			thrown = err;
		}
		expect(thrown).toBeInstanceOf(FieldValidationError);
		expect(thrown).toBeInstanceOf(Errors.ValidationError);
		const err = thrown as FieldValidationError;
		expect(err.code).toBe(422);
		expect(err.data).toEqual([expect.objectContaining({ type: "money", field: "targetAmount" })]);
	});

	test("the error names the field it was given", () => {
		expect(() => toCents(0, "amount")).toThrow(expect.objectContaining({ data: [expect.objectContaining({ field: "amount" })] }));
	});
});

describe("fromCents", () => {
	test.each([
		[1, 0.01],
		[10, 0.1],
		[30, 0.3],
		[10050, 100.5],
		[1e14, 1e12],
	])("%p cents is %p", (cents, amount) => {
		expect(fromCents(cents)).toBe(amount);
	});

	test("accepts PostgreSQL's BIGINT as a string, and a bigint", () => {
		expect(fromCents("1999")).toBe(19.99);
		expect(fromCents(BigInt(1e14))).toBe(1e12);
	});

	test.each([0.01, 0.1, 0.29, 19.99, 100.5, 123_456.78, 1e12])("round-trips %p", (amount) => {
		expect(fromCents(toCents(amount))).toBe(amount);
	});
});

test("summing cents is exact where summing floats is not: 0.1 + 0.2", () => {
	expect(0.1 + 0.2).not.toBe(0.3);
	const cents = toCents(0.1) + toCents(0.2);
	expect(cents).toBe(30);
	expect(fromCents(cents)).toBe(0.3);
	expect(JSON.stringify({ total: fromCents(cents) })).toBe('{"total":0.3}');
});
