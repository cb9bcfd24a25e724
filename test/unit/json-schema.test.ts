/**
 * fastest-validator rules as JSON Schema, for the OpenAPI document: what the validator enforces
 * and JSON Schema can say, said; a custom check named in words; a rule it cannot translate refused.
 */
import { emailParam, idParam, nameParam } from "../../lib/domain/params";
import { fieldsOf, objectSchema, ruleToSchema } from "../../lib/http/json-schema";

test("given a positive integer id rule, then an integer above 0 up to its max", () => {
	expect(ruleToSchema(idParam)).toEqual({ type: "integer", exclusiveMinimum: 0, maximum: 2_147_483_647 });
});

test("given a name rule with its text check, then a bounded string whose description names the check", () => {
	expect(ruleToSchema(nameParam)).toEqual({
		type: "string",
		minLength: 1,
		maxLength: 100,
		description: "trimmed; well-formed Unicode without control characters",
	});
});

test("given the email rule, then a string of at most 254 characters, described", () => {
	expect(ruleToSchema(emailParam)).toMatchObject({ type: "string", maxLength: 254, description: expect.stringContaining("email") });
});

test("given enum, equal and uuid rules, then enum, const and a uuid string", () => {
	expect(ruleToSchema({ type: "enum", values: ["A", "B"] })).toEqual({ enum: ["A", "B"] });
	expect(ruleToSchema({ type: "equal", value: "clients" })).toEqual({ const: "clients" });
	expect(ruleToSchema({ type: "uuid" })).toEqual({ type: "string", format: "uuid" });
});

test("given a rule type with no translation, or a custom check with no description, then it is refused, not guessed", () => {
	expect(() => ruleToSchema({ type: "multi" })).toThrow(/multi/);
	const unknownCheck = (value: unknown) => value;
	expect(() => ruleToSchema({ type: "string", custom: unknownCheck })).toThrow(/unknownCheck/);
});

test("given a strict schema with optional fields, then a closed object requiring only the others", () => {
	const schema = { id: idParam, name: { ...nameParam, optional: true }, $$strict: true };
	expect(objectSchema(fieldsOf(schema), true)).toEqual({
		type: "object",
		properties: { id: ruleToSchema(idParam), name: ruleToSchema(nameParam) },
		required: ["id"],
		additionalProperties: false,
	});
});
