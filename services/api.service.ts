/**
 * The REST gateway (moleculer-web). Only the routes below are reachable: no auto-aliases, no
 * `$node.*`, no internal actions. Request bodies are JSON objects of at most 100 kB; every error
 * leaves as `{ name, message, code, type, data }` without a stack.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, ServiceSchema } from "moleculer";
import ApiGateway, { type ApiSettingsSchema, Errors as WebErrors } from "moleculer-web";
import { isAdmin } from "../lib/http/admin-auth";
import { listDeadLetters, retryDeadLetter } from "../lib/consumer/dead-letters";
import { FieldValidationError } from "../lib/errors";
import { toPublicError } from "../lib/http/http-errors";
import { checkReadiness } from "../lib/infra/readiness";
import type { DeadLetter } from "../lib/consumer/retries";

export interface ApiOptions {
	port: number;
	host: string;
	/** requests per minute per client IP; 0 is no limit */
	rateLimit: number;
	/** bearer token for /api/admin/*; null means every admin call is 401 */
	adminToken: string | null;
}

/** moleculer-web's request, as far as we use it. */
interface GatewayRequest extends IncomingMessage {
	$params: { body?: unknown; query?: Record<string, unknown>; params?: Record<string, unknown> } & Record<string, unknown>;
	originalUrl?: string;
}

export const ROUTES = {
	"POST /clients": "clients.create",
	"GET /clients": "clients.list",
	"GET /clients/:id": "clients.get",
	"PUT /clients/:id": "clients.update",
	"DELETE /clients/:id": "clients.remove",
	"GET /clients/:id/goals": "clients.goals",
	"GET /clients/:id/events": "clients.history",
	"POST /goals": "goals.create",
	"GET /goals": "goals.list",
	"GET /goals/:id": "goals.get",
	"PUT /goals/:id": "goals.update",
	"DELETE /goals/:id": "goals.remove",
	"GET /goals/:id/events": "goals.history",
	"GET /health": "api.health",
	"GET /ready": "api.ready",
} as const;

/** Behind the bearer ADMIN_TOKEN. */
export const ADMIN_ROUTES = {
	"GET /dead-letters": "api.deadLetters",
	"POST /dead-letters/:id/retry": "api.retryDeadLetter",
} as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Path, query and body into one params object. A body must be a JSON object, and may not
 * repeat a path or query parameter (it would be silently overridden otherwise).
 */
function mergeRequestParams(req: GatewayRequest, numbers: boolean): Record<string, unknown> {
	const { body, query = {}, params = {} } = req.$params;
	if (body !== undefined && !isPlainObject(body)) {
		throw new FieldValidationError([{ type: "object", field: "body", message: "The request body must be a JSON object." }]);
	}
	const fromBody = body ?? {};
	const clashes = Object.keys(fromBody).filter((key) => key in params || key in query);
	if (clashes.length > 0) {
		throw new FieldValidationError(
			clashes.map((field) => ({ type: "forbidden", field, message: `The '${field}' field cannot be set in the body.` })),
		);
	}
	return numbers ? { ...numbersFromText(query), ...fromBody, ...numbersFromText(params) } : { ...query, ...fromBody, ...params };
}

/** A decimal number as text: how numbers arrive in a path or a query string. */
const NUMERIC_TEXT = /^-?\d+(\.\d+)?$/;

/**
 * Path and query values are text; the actions' schemas want numbers for ids and pages. Turn
 * plain decimal text into numbers here, in the HTTP adapter, so that the schemas need no
 * `convert` and a JSON body's `"7"` or `true` is never taken for 7 or 1.
 */
function numbersFromText(values: Record<string, unknown>): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(values)) {
		out[key] = typeof value === "string" && NUMERIC_TEXT.test(value) ? Number(value) : value;
	}
	return out;
}

function sendError(this: { logger: { error: (...args: unknown[]) => void; warn: (...args: unknown[]) => void } }, req: IncomingMessage, res: ServerResponse, err: unknown) {
	const error = toPublicError(err);
	// 503/504 are expected in an outage and say all there is to say; any other 5xx is ours to fix
	if (error.code === 503 || error.code === 504) this.logger.warn(`${req.method} ${req.url}: ${error.code} ${error.message}`);
	else if (error.code >= 500) this.logger.error(`${req.method} ${req.url} failed:`, err);
	if (res.headersSent) return;
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.writeHead(error.code);
	res.end(JSON.stringify(error));
}

export function createApiService(options: ApiOptions): ServiceSchema<ApiSettingsSchema> {
	/** What every route shares: explicit aliases only, JSON bodies up to 100 kB, one params object. */
	const routeBasics = {
		mappingPolicy: "restrict" as const,
		autoAliases: false,
		mergeParams: false,
		// not strict: any well-formed JSON parses, and a body that is not an object is a 422
		// from mergeRequestParams, so that 400 means malformed JSON and nothing else
		bodyParsers: { json: { strict: false, limit: "100kb" }, urlencoded: false },
		rateLimit:
			options.rateLimit > 0
				? {
						window: 60_000,
						limit: options.rateLimit,
						headers: true,
						// the socket's address: X-Forwarded-For is the client's to forge
						key: (req: IncomingMessage) => req.socket.remoteAddress ?? "unknown",
					}
				: undefined,
	};

	return {
		name: "api",
		mixins: [ApiGateway],
		settings: {
			port: options.port,
			ip: options.host,
			log4XXResponses: false,
			logRequest: "debug",
			logResponse: "debug",
			onError: sendError,
			routes: [
				{
					// before "/api": moleculer-web takes the first route whose path matches
					path: "/api/admin",
					...routeBasics,
					aliases: ADMIN_ROUTES,
					// moleculer-web runs onBeforeCall before `authentication`: check the token first, so
					// that a caller without it learns nothing, not even how its input would be judged
					onBeforeCall(_ctx: Context, _route: unknown, req: GatewayRequest) {
						if (!isAdmin(req.headers.authorization, options.adminToken)) {
							throw new WebErrors.UnAuthorizedError(WebErrors.ERR_INVALID_TOKEN, null);
						}
						// dead-letter ids are text ("goals-12"): no numbers read from the path
						req.$params = mergeRequestParams(req, false);
					},
					onError: sendError,
				},
				{
					path: "/api",
					...routeBasics,
					aliases: ROUTES,
					onBeforeCall(_ctx: Context, _route: unknown, req: GatewayRequest) {
						req.$params = mergeRequestParams(req, true);
					},
					onAfterCall(ctx: Context<unknown, Record<string, unknown>>, _route: unknown, req: GatewayRequest, _res: ServerResponse, data: unknown) {
						if (req.method === "POST" && isPlainObject(data)) {
							ctx.meta.$statusCode = 201;
							ctx.meta.$location = `${(req.originalUrl ?? req.url ?? "").split("?")[0]}/${String(data.id)}`;
						} else if (req.method === "DELETE") {
							ctx.meta.$statusCode = 204;
						}
						return data;
					},
					onError: sendError,
				},
			],
		},

		actions: {
			/**
			 * moleculer-web's HTTP handler: never retried by the broker's retry policy, which would
			 * run a request's whole handling again (and answer 404 once the response was used up).
			 */
			rest: { retryPolicy: { enabled: false } },
			deadLetters: {
				handler(): Promise<DeadLetter[]> {
					return listDeadLetters(this.broker);
				},
			},
			retryDeadLetter: {
				params: { id: { type: "string", min: 1 }, $$strict: true },
				handler(ctx: Context<{ id: string }>): Promise<DeadLetter> {
					return retryDeadLetter(this.broker, ctx.params.id);
				},
			},
			health: {
				handler() {
					return { status: "UP" };
				},
			},
			ready: {
				async handler(ctx: Context<unknown, Record<string, unknown>>) {
					const readiness = await checkReadiness(this.broker, ["clients", "goals"]);
					if (readiness.status !== "UP") ctx.meta.$statusCode = 503;
					return readiness;
				},
			},
		},
	};
}
