/**
 * lib/domain/text, lib/domain/email and the name and email rules of lib/domain/params, compiled
 * by the broker's own validator: text is well-formed Unicode without control characters, an
 * address may have a punycode top-level domain, and its lower-cased form fits 254 characters.
 * Also the database safety net's classification (lib/errors: isInvalidData).
 */
import { Validators } from "moleculer";
import { isEmailAddress } from "../../lib/domain/email";
import { emailParam, nameParam, requireChanges } from "../../lib/domain/params";
import { isWellFormedText } from "../../lib/domain/text";
import { FieldValidationError, isDatabaseUnavailable, isInvalidData } from "../../lib/errors";

type Check = (params: Record<string, unknown>) => true | Array<{ type: string; field: string; message: string }>;
const compile = (schema: Record<string, unknown>): Check =>
	(new Validators.Fastest() as unknown as { validator: { compile(schema: unknown): Check } }).validator.compile(schema);
const check = compile({ name: { ...nameParam, optional: true }, email: { ...emailParam, optional: true }, $$strict: true });
const errorsOf = (params: Record<string, unknown>) => {
	const result = check({ ...params });
	return result === true ? [] : result.map(({ type, field }) => ({ type, field }));
};

const hex = (code: number) => code.toString(16).padStart(4, "0");
/** Every control character: C0, DEL, C1. */
const CONTROLS = [...Array.from({ length: 0x20 }, (_, i) => i), ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i)];

describe("text: well-formed Unicode without control characters", () => {
	test.each(CONTROLS.map((code) => [hex(code), code]))("U+%s inside a name is refused", (_hex, code) => {
		expect(errorsOf({ name: `Ann${String.fromCharCode(code)}Smith` })).toEqual([{ type: "text", field: "name" }]);
	});

	test.each([
		["a lone high surrogate", "\ud800x"],
		["a lone high surrogate at the end", "Ann\udbff"],
		["a lone low surrogate", "x\udc00"],
		["a lone low surrogate at the start", "\udfffAnn"],
		["a pair in the wrong order", "a\udc00\ud800b"],
	])("%s is refused", (_what, name) => {
		expect(errorsOf({ name })).toEqual([{ type: "text", field: "name" }]);
	});

	test.each([
		["letters beyond ASCII", "Zoë Ünal-Øster"],
		["an astral character (a well-formed pair)", "Ann 😀"],
		["CJK", "山田太郎"],
		["a line separator is not a control character (U+2028 is Zl)", "Ann\u2028Smith"],
		["U+00A0, a no-break space (Zs)", "Ann\u00a0Smith"],
	])("%s is accepted", (_what, name) => {
		expect(errorsOf({ name })).toEqual([]);
		expect(isWellFormedText(name)).toBe(true);
	});

	test("whitespace around a name is trimmed first: a surrounding tab or newline is no error, nor stored", () => {
		const params: Record<string, unknown> = { name: "\t Ann \n" };
		expect(check(params)).toBe(true);
		expect(params.name).toBe("Ann");
	});

	test("the wording names the field and the rule", () => {
		const result = check({ name: "a\u0000" });
		expect(result).toEqual([expect.objectContaining({ message: "The 'name' field must be well-formed Unicode text without control characters." })]);
	});
});

describe("email", () => {
	test.each([
		"ann@example.com",
		"Ann.Smith+goals@Example.COM",
		"ann@example.xn--p1ai",
		"ann@xn--e1afmkfd.xn--p1ai",
		"ann@EXAMPLE.XN--P1AI",
		"ann@example.xn--3e0b707e",
		`${"a".repeat(242)}@example.com`,
	])("%s is accepted", (email) => {
		expect(errorsOf({ email })).toEqual([]);
		expect(email.length).toBeLessThanOrEqual(254);
	});

	test.each([
		["no top-level domain", "ann@example", "email"],
		["a TLD of xn-- alone", "ann@example.xn--", "email"],
		["a punycode TLD ending in a hyphen", "ann@example.xn--p1ai-", "email"],
		["a TLD with a digit that is not punycode", "ann@example.c0m", "email"],
		["two @", "ann@@example.com", "email"],
		["empty", "", "email"],
		["255 characters", `${"a".repeat(243)}@example.com`, "stringMax"],
		["254 characters, 255 lower-cased", `İ${"a".repeat(241)}@example.com`, "emailMax"],
		["212 characters, 412 lower-cased", `${"İ".repeat(200)}@example.com`, "emailMax"],
		["NUL", "ann\u0000@example.com", "text"],
		["U+0085", "ann\u0085@example.com", "text"],
		["a trailing newline", "ann@example.com\n", "text"],
		["a lone surrogate", "ann\ud800@example.com", "text"],
	])("%s is refused (%s)", (_what, email, type) => {
		expect(errorsOf({ email })).toEqual([{ type, field: "email" }]);
	});

	test("a quoted local part keeps the precise pattern's rule", () => {
		expect(isEmailAddress('"ann smith"@example.com')).toBe(true);
	});
});

describe("requireChanges", () => {
	test("a field a custom check wrote back as undefined is absent, not a change", () => {
		const params: Record<string, unknown> = { id: 1 };
		expect(compile({ id: "number", name: { ...nameParam, optional: true }, $$strict: true })(params)).toBe(true);
		expect(() => requireChanges(params, ["name"])).toThrow(FieldValidationError);
		expect(() => requireChanges({ ...params, name: "Ann" }, ["name"])).not.toThrow();
	});
});

describe("isInvalidData: PostgreSQL's data exceptions (class 22) and nothing else", () => {
	const pgError = (code: string, message = "detail") => Object.assign(new Error(message), { code });
	const sequelizeError = (code: string) => Object.assign(new Error("detail"), { name: "SequelizeDatabaseError", parent: { code } });

	test.each(["22001", "22003", "22021", "22P02", "22007", "2200D"])("%s, from pg or wrapped by Sequelize, is", (code) => {
		expect(isInvalidData(pgError(code))).toBe(true);
		expect(isInvalidData(sequelizeError(code))).toBe(true);
	});

	test.each(["23505", "42601", "08006", "57P01", "40001", "220", "22001x", "SQLITE_CONSTRAINT"])("%s is not", (code) => {
		expect(isInvalidData(pgError(code))).toBe(false);
		expect(isInvalidData(sequelizeError(code))).toBe(false);
	});

	test("neither is a non-Error, or an Error without a code", () => {
		expect(isInvalidData({ code: "22001" })).toBe(false);
		expect(isInvalidData(new Error("22001"))).toBe(false);
		expect(isInvalidData(undefined)).toBe(false);
	});

	test.each(["53300", "53000", "08006", "57P01"])(
		"PostgreSQL's %s (too many clients, insufficient resources, a connection failure, a shutdown) is an outage: 503",
		(code) => {
			expect(isDatabaseUnavailable(pgError(code))).toBe(true);
		},
	);

	test("an outage is never a data error, nor the reverse", () => {
		expect(isDatabaseUnavailable(pgError("22021"))).toBe(false);
		expect(isInvalidData(pgError("57P01"))).toBe(false);
	});
});
