/**
 * The OpenAPI 3.1 document of the REST API, generated (pure, once per process) from what the
 * gateway enforces: the route tables (routes.ts), the actions' parameter schemas
 * (lib/domain/action-params.ts, converted by json-schema.ts) and the event schemas the consumers
 * check (lib/domain/event-schema.ts); words, statuses and examples from route-docs.ts.
 *
 * A small generator rather than moleculer-auto-openapi: that one reads the routes from a running
 * gateway's registry (a gateway node in a cluster knows the remote actions' schemas only once
 * those nodes are up, and without their `custom` checks), targets OpenAPI 3.0, and cannot say
 * where a parameter comes from when path, query and body are merged into one params object as
 * ours are.
 */
import { AMOUNT_MAX, DEAD_LETTER_STATES, ID_MAX, SOURCES } from "../constants";
import { ACTION_PARAMS } from "../domain/action-params";
import { EVENT_SCHEMAS } from "../domain/event-schema";
import { fieldsOf, type JsonSchema, objectSchema, type Rule, ruleToSchema } from "./json-schema";
import { ROUTE_DOCS, type RouteDoc, type Shape } from "./route-docs";
import { ADMIN_ROUTES, OPS_PATH, OPS_ROUTES, ROUTES } from "./routes";

export const API_BASE = "/api";
const ADMIN_BASE = "/api/admin";

/** moleculer-web's `:id` to OpenAPI's `{id}`. */
export function openApiPath(path: string): string {
	return path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const isoTime = { type: "string", format: "date-time" };
const id = { type: "integer", exclusiveMinimum: 0, maximum: ID_MAX };
const amount = { type: "number", exclusiveMinimum: 0, maximum: AMOUNT_MAX, description: "at most two decimals, stored exactly" };

function closed(properties: Record<string, unknown>): JsonSchema {
	return { type: "object", properties, required: Object.keys(properties), additionalProperties: false };
}

function page(of: string): JsonSchema {
	const count = { type: "integer", minimum: 0 };
	return closed({
		rows: { type: "array", items: ref(of) },
		total: count,
		page: { type: "integer", minimum: 1 },
		pageSize: { type: "integer", minimum: 1 },
		totalPages: count,
	});
}

const component = { type: "object", properties: { status: { enum: ["UP", "DEGRADED", "DOWN"] } }, required: ["status"] };
/** A component whose other keys each hold one `entry` (a consumer, a node). */
const componentOf = (entry: JsonSchema, description: string): JsonSchema => ({ ...component, additionalProperties: entry, description });
const countOrNull = { type: ["integer", "null"], minimum: 0 };

const SCHEMAS: Record<string, JsonSchema> = {
	Client: closed({
		id,
		name: { type: "string", minLength: 1, maxLength: 100 },
		email: { type: "string", maxLength: 254 },
		version: id,
		createdAt: isoTime,
		updatedAt: isoTime,
		goals: {
			type: "array",
			items: closed({ id, goalName: { type: "string" }, targetAmount: amount }),
			description: "the client service's own copy of its goals",
		},
	}),
	Goal: closed({
		id,
		clientId: id,
		clientName: { type: "string", description: "the goal service's own copy of the client's name" },
		goalName: { type: "string", minLength: 1, maxLength: 100 },
		targetAmount: amount,
		version: id,
		createdAt: isoTime,
		updatedAt: isoTime,
	}),
	GoalList: { type: "array", items: ref("Goal") },
	ClientPage: page("Client"),
	GoalPage: page("Goal"),
	// the schemas the consumers check events with; open, as the consumers are (a newer producer may add a field)
	ClientEvent: objectSchema(fieldsOf(EVENT_SCHEMAS[SOURCES.clients]), false),
	GoalEvent: objectSchema(fieldsOf(EVENT_SCHEMAS[SOURCES.goals]), false),
	ClientEventList: { type: "array", items: ref("ClientEvent"), maxItems: 1000 },
	GoalEventList: { type: "array", items: ref("GoalEvent"), maxItems: 1000 },
	Health: closed({ status: { const: "UP" } }),
	Readiness: {
		type: "object",
		properties: {
			status: {
				enum: ["UP", "DEGRADED", "DOWN"],
				description: "DEGRADED (HTTP 200): on a gateway, a service it routes to has no live node; that service's routes answer 503, the others are served",
			},
			components: {
				type: "object",
				properties: {
					database: component,
					transporter: {
						...component,
						properties: {
							...component.properties,
							type: { type: "string", description: "the transporter's class, or none in a single process" },
							broker: {
								type: ["string", "null"],
								description:
									"AMQP: which of TRANSPORTER's RabbitMQ nodes this node is connected to, by its position in the list (`2 of 3`; never a host, port or credentials); null while disconnected",
							},
						},
					},
					cacher: component,
					queues: component,
					services: componentOf(
						closed({ status: { enum: ["UP", "DOWN"] }, nodes: { type: "integer", minimum: 0 } }),
						"on a gateway: the live nodes of each service its routes call. DOWN until every one has had a live node since the gateway started, then DEGRADED while one has none",
					),
					consumers: componentOf(
						closed({
							producer: { enum: Object.values(SOURCES) },
							head: { ...countOrNull, description: "the producer's last event-log sequence" },
							checkpoint: { ...countOrNull, description: "the last sequence the consumer applied" },
							lag: { ...countOrNull, description: "head − checkpoint: events committed and not applied yet" },
							pendingRetries: countOrNull,
							deadLetters: countOrNull,
							state: { enum: ["running", "paused", null], description: "paused: it takes no events, which wait in its queues (`reason` says why)" },
							reason: { type: ["string", "null"] },
							since: { anyOf: [isoTime, { type: "null" }] },
							reported: { enum: ["live", "last known", "unknown"], description: "last known: no replica answered now; its last answer is shown" },
							queues: { type: "object", additionalProperties: { type: "object", properties: { messages: countOrNull, consumers: countOrNull } } },
						}),
						"on a gateway: each consumer of the cluster, by name",
					),
					nodes: componentOf(
						closed({ services: { type: "array", items: { type: "string" } }, local: { type: "boolean" } }),
						"on a gateway: the live nodes, each named node-<8 hex digits of a hash of its id>",
					),
				},
				required: ["database", "transporter", "cacher", "queues"],
				additionalProperties: component,
			},
		},
		required: ["status", "components"],
		additionalProperties: false,
	},
	DeadLetter: {
		...closed({
			id: { type: "string", examples: ["goals-12"] },
			consumer: { type: "string" },
			producer: { enum: Object.values(SOURCES) },
			attempts: { type: "integer", minimum: 0 },
			lastError: { type: "string" },
			failedAt: { ...isoTime, description: "when the event first failed" },
			requestId: { type: ["string", "null"], description: "the X-Request-ID of the change that caused the event, when known" },
			event: { description: "the event as it was delivered (a refused payload as far as it could be kept), or as an operator edited it" },
			state: {
				enum: [...DEAD_LETTER_STATES, "pending"],
				description:
					"dead: waits for an operator; discarded, replayed: kept DEAD_LETTER_RETENTION_DAYS, then purged; pending: back in the retry table (the answer to a retry)",
			},
			original: { description: "the event as it failed, when an operator edited it" },
			edited: closed({ at: isoTime, by: { type: "string", description: "the admin token's id (never the token), or `repl`" } }),
		}),
		required: ["id", "consumer", "producer", "attempts", "lastError", "failedAt", "requestId", "event", "state"],
	},
	DeadLetterPage: page("DeadLetter"),
	RetriedCount: closed({ retried: { type: "integer", minimum: 0 } }),
	DiscardedCount: closed({ discarded: { type: "integer", minimum: 0 } }),
	Consumer: closed({
		consumer: { type: "string", examples: ["goals"] },
		state: { enum: ["running", "paused"] },
		reason: {
			type: ["string", "null"],
			description: "why it is paused: an operator's pause, or CONSUMER_PAUSE_AFTER consecutive failed events (and when it tries one again)",
		},
		since: { anyOf: [isoTime, { type: "null" }], description: "when it was paused or last resumed; null if never" },
	}),
	ConsumerList: { type: "array", items: ref("Consumer") },
	Rebuild: closed({
		consumer: { type: "string", examples: ["goals"] },
		producer: { enum: Object.values(SOURCES) },
		mode: { enum: ["bootstrap", "rebuild"], description: "bootstrap: a consumer with no checkpoint starting from the snapshot" },
		state: { enum: ["running", "done", "failed", "interrupted"] },
		atSequence: { ...countOrNull, description: "the producer's log sequence the snapshot is valid at (null until its first page is read)" },
		entities: { type: "integer", minimum: 0, description: "entities of the snapshot read so far" },
		total: { ...countOrNull, description: "entities in the snapshot" },
		written: { type: "integer", minimum: 0, description: "rows the snapshot changed" },
		removed: { type: "integer", minimum: 0, description: "rows the snapshot did not have, removed" },
		caughtUp: { type: "integer", minimum: 0, description: "events of the log after the snapshot applied on top" },
		startedAt: isoTime,
		finishedAt: { anyOf: [isoTime, { type: "null" }] },
		error: { type: ["string", "null"] },
		line: { type: "string", description: "the progress line the node logs" },
	}),
	Error: {
		type: "object",
		description: "moleculer-web's error shape, never a stack trace; `data` lists each failing field of a 422",
		properties: {
			name: { type: "string" },
			message: { type: "string" },
			code: { type: "integer", minimum: 400, maximum: 599 },
			type: { type: "string" },
			data: {},
		},
		required: ["name", "message", "code", "type", "data"],
		additionalProperties: false,
	},
};

/** What an error status means wherever the generator adds it by the route's kind. */
const COMMON_ERRORS: Record<number, string> = {
	400: "Malformed JSON.",
	401: "Missing or wrong admin token.",
	404: "No such entity (absent or deleted).",
	413: "Body over 100 kB.",
	422: "Invalid parameters (unknown fields included); `data` lists each failing field.",
	429: "Rate limited (RATE_LIMIT per minute per client IP; for admin routes, after 10 failed token attempts).",
	503: "A service this request needs is unavailable (nothing was changed).",
	504: "No answer in time: the outcome is unknown (a write may or may not have been made).",
};

interface Operation {
	method: string;
	path: string;
	action: keyof typeof ACTION_PARAMS;
	admin: boolean;
	doc: RouteDoc;
}

function operations(): Operation[] {
	const split = (route: string) => route.split(" ") as [string, string];
	return [
		...Object.entries(ROUTES).map(([route, action]) => {
			const [method, path] = split(route);
			return { method, path: `${API_BASE}${path}`, action, admin: false, doc: ROUTE_DOCS[route as keyof typeof ROUTES] };
		}),
		...Object.entries(ADMIN_ROUTES).map(([route, action]) => {
			const [method, path] = split(route);
			return { method, path: `${ADMIN_BASE}${path}`, action, admin: true, doc: ROUTE_DOCS[`admin ${route as keyof typeof ADMIN_ROUTES}`] };
		}),
		// a page like /api/docs, listed as it is; its path as the contract writes it, `/ops/`
		...Object.entries(OPS_ROUTES).map(([route, action]) => {
			const [method, path] = split(route);
			return { method, path: `${OPS_PATH}${path}`, action, admin: false, doc: ROUTE_DOCS[`ops ${route as keyof typeof OPS_ROUTES}`] };
		}),
	];
}

/** Every route of the contract as the document lists it: method, OpenAPI path and its example request. */
export function documentedRoutes(): Array<{
	method: string;
	path: string;
	openApiPath: string;
	admin: boolean;
	success: number;
	example: RouteDoc["example"];
}> {
	return operations().map((op) => ({
		method: op.method,
		path: op.path,
		openApiPath: openApiPath(op.path),
		admin: op.admin,
		success: op.doc.success.status,
		example: op.doc.example,
	}));
}

function errorStatuses(op: Operation, pathFields: string[], hasParams: boolean, hasBody: boolean): Record<number, string> {
	const statuses: Record<number, string> = { 429: COMMON_ERRORS[429] };
	if (hasBody) Object.assign(statuses, { 400: COMMON_ERRORS[400], 413: COMMON_ERRORS[413] });
	if (hasParams) statuses[422] = COMMON_ERRORS[422];
	if (pathFields.includes("id")) statuses[404] = COMMON_ERRORS[404];
	if (op.admin) statuses[401] = COMMON_ERRORS[401];
	// the gateway's own actions need no other service (the dead-letter routes ask the consumers)
	if (!op.action.startsWith("api.") || op.admin) Object.assign(statuses, { 503: COMMON_ERRORS[503], 504: COMMON_ERRORS[504] });
	return { ...statuses, ...op.doc.errors };
}

function successResponse(shape: Shape, description: string): Record<string, unknown> {
	switch (shape) {
		case null:
			return { description };
		case "OpenApi":
			return { description, content: { "application/json": { schema: { type: "object", required: ["openapi", "info", "paths"] } } } };
		case "AsyncApi":
			return { description, content: { "application/json": { schema: { type: "object", required: ["asyncapi", "info", "channels", "operations"] } } } };
		case "Html":
			return { description, content: { "text/html": { schema: { type: "string" } } } };
		case "Asset":
			return { description, content: { "text/css": { schema: { type: "string" } }, "text/javascript": { schema: { type: "string" } } } };
		default:
			return { description, content: { "application/json": { schema: ref(shape) } } };
	}
}

function operationObject(op: Operation): Record<string, unknown> {
	const schema = ACTION_PARAMS[op.action] as Record<string, unknown>;
	const fields = fieldsOf(schema);
	const pathFields = [...op.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => match[1]);
	const hasBody = op.method === "POST" || op.method === "PUT";
	const inPath = fields.filter(([name]) => pathFields.includes(name));
	const rest = fields.filter(([name]) => !pathFields.includes(name));
	const write = op.method !== "GET";
	const parameters: unknown[] = [
		...inPath.map(([name, rule]) => ({ name, in: "path", required: true, schema: ruleToSchema(rule) })),
		...(hasBody ? [] : rest.map(([name, rule]) => ({ name, in: "query", required: !(rule as Rule).optional, schema: ruleToSchema(rule) }))),
		...(write && !op.admin
			? [
					{
						name: "Idempotency-Key",
						in: "header",
						required: false,
						description:
							"A repeat of this method and path with the same key within 24 h gets the first answer and writes nothing; the same key with another body is 422.",
						schema: { type: "string", minLength: 1, maxLength: 100, pattern: "^[\\x20-\\x7e]+$" },
					},
				]
			: []),
	];
	const example = op.doc.example?.body;
	const responses: Record<string, unknown> = {};
	const { success } = op.doc;
	responses[String(success.status)] = successResponse(success.shape, success.description);
	const readiness = op.action === "api.ready";
	for (const [status, description] of Object.entries(errorStatuses(op, pathFields, fields.length > 0, hasBody))) {
		responses[status] = { description, content: { "application/json": { schema: readiness && status === "503" ? ref("Readiness") : ref("Error") } } };
	}
	return {
		operationId: op.action.replace(".", "_"),
		summary: op.doc.summary,
		...(op.doc.description ? { description: op.doc.description } : {}),
		tags: [op.doc.tag],
		...(op.admin ? { security: [{ adminToken: [] }] } : {}),
		...(parameters.length > 0 ? { parameters } : {}),
		...(hasBody
			? {
					requestBody: {
						required: true,
						content: { "application/json": { schema: objectSchema(rest as Array<[string, Rule]>, schema.$$strict === true), ...(example ? { example } : {}) } },
					},
				}
			: {}),
		responses,
	};
}

let built: Record<string, unknown> | null = null;

/** The document (built once; the route and schema tables do not change while the process runs). */
export function openApiDocument(version: string): Record<string, unknown> {
	if (built) return built;
	const paths: Record<string, Record<string, unknown>> = {};
	for (const op of operations()) {
		const path = openApiPath(op.path);
		paths[path] ??= {};
		paths[path][op.method.toLowerCase()] = operationObject(op);
	}
	built = {
		openapi: "3.1.0",
		info: {
			title: "Clients & Goals API",
			version,
			description:
				"Clients and their financial goals, two Moleculer services behind one gateway. Errors are `{name, message, code, type, data}`. Lists and reads are eventually consistent across services (a client's `goals`, a goal's `clientName`).",
		},
		servers: [{ url: "/" }],
		tags: [
			{ name: "clients", description: "The client service" },
			{ name: "goals", description: "The goal service" },
			{ name: "operations", description: "Health and readiness of the node answering, the API reference and the operations page" },
			{ name: "admin", description: "Dead letters, consumers' pauses and rebuilds (bearer ADMIN_TOKEN)" },
		],
		paths,
		components: {
			schemas: SCHEMAS,
			securitySchemes: { adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" } },
		},
	};
	return built;
}
