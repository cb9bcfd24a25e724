/**
 * fastest-validator rules (the actions' parameter schemas, the event schemas) as JSON Schema
 * (draft 2020-12, what OpenAPI 3.1 and AsyncAPI 3 use). Only the rules this project writes are
 * translated; a `custom` check has no JSON Schema form, so its rule is named in the description
 * (the schema then says what it can: type and bounds). Pure.
 */

export type JsonSchema = Record<string, unknown>;

/** One fastest-validator rule, as written in lib/domain (a string shorthand is not used there). */
export interface Rule {
	type: string;
	optional?: boolean;
	integer?: boolean;
	positive?: boolean;
	min?: number;
	max?: number;
	values?: readonly unknown[];
	value?: unknown;
	custom?: unknown;
	[key: string]: unknown;
}

/** What a `custom` check enforces, by the function's name (lib/domain/text.ts, email.ts, event-schema.ts). */
const CUSTOM_RULES: Record<string, string> = {
	wellFormedText: "trimmed; well-formed Unicode without control characters",
	emailAddress: "an email address; compared and stored lower-cased, at most 254 characters then",
	isoTimestamp: "an ISO-8601 time",
	storedName: "well-formed Unicode without control characters, no surrounding white space",
	twoDecimals: "at most two decimals",
};

export function ruleToSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = {};
	switch (rule.type) {
		case "number":
			schema.type = rule.integer ? "integer" : "number";
			if (rule.positive) schema.exclusiveMinimum = 0;
			if (rule.min !== undefined) schema.minimum = rule.min;
			if (rule.max !== undefined) schema.maximum = rule.max;
			break;
		case "string":
			schema.type = "string";
			if (rule.min !== undefined) schema.minLength = rule.min;
			if (rule.max !== undefined) schema.maxLength = rule.max;
			break;
		case "uuid":
			schema.type = "string";
			schema.format = "uuid";
			break;
		case "enum":
			schema.enum = [...(rule.values ?? [])];
			break;
		case "equal":
			schema.const = rule.value;
			break;
		case "boolean":
			schema.type = "boolean";
			break;
		case "object": {
			schema.type = "object";
			const props = rule.props as Record<string, Rule> | undefined;
			if (props) {
				const fields = Object.entries(props);
				schema.properties = Object.fromEntries(fields.map(([name, prop]) => [name, ruleToSchema(prop)]));
				schema.required = fields.filter(([, prop]) => !prop.optional).map(([name]) => name);
				schema.additionalProperties = rule.strict !== true;
			}
			break;
		}
		default:
			throw new Error(`No JSON Schema for the fastest-validator rule type '${rule.type}'`);
	}
	const custom = typeof rule.custom === "function" ? CUSTOM_RULES[(rule.custom as { name: string }).name] : undefined;
	if (typeof rule.custom === "function" && !custom) throw new Error(`No description for the custom check '${(rule.custom as { name: string }).name}'`);
	if (custom) schema.description = custom;
	return schema;
}

/** The fields of a schema object (the `$$` options left out). */
export function fieldsOf(schema: Record<string, unknown>): Array<[string, Rule]> {
	return Object.entries(schema).filter(([name]) => !name.startsWith("$$")) as Array<[string, Rule]>;
}

/** An object schema of `fields`; closed when the validator's schema is `$$strict`. */
export function objectSchema(fields: Array<[string, Rule]>, strict: boolean): JsonSchema {
	return {
		type: "object",
		properties: Object.fromEntries(fields.map(([name, rule]) => [name, ruleToSchema(rule)])),
		required: fields.filter(([, rule]) => !rule.optional).map(([name]) => name),
		additionalProperties: !strict,
	};
}
