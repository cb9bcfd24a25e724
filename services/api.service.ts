/**
 * The REST gateway (moleculer-web). Only the routes below are reachable: no auto-aliases, no
 * `$node.*`, no internal actions. Request bodies are JSON objects of at most 100 kB; every error
 * leaves as `{ name, message, code, type, data }` without a stack.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CallingOptions, Context, Service, ServiceBroker, ServiceSchema } from "moleculer";
import ApiGateway, { type ApiSettingsSchema, Errors as WebErrors } from "moleculer-web";
import { ADMIN_PATH, adminTokenId, bearerToken, isAdmin } from "../lib/http/admin-auth";
import { RequestGateMixin, type RequestGateOptions } from "../mixins/request-gate.mixin";
import { MethodGateMixin, type MethodGateOptions } from "../mixins/method-gate.mixin";
import { BalancedCallsMixin } from "../mixins/balanced-calls.mixin";
import { ListenWhenStartedMixin } from "../mixins/listen-when-started.mixin";
import { ApiDocsMixin } from "../mixins/api-docs.mixin";
import { WebAssetsMixin } from "../mixins/web-assets.mixin";
import { type ConsumerFilter, discardDeadLetters, editDeadLetter, listDeadLetters, retryDeadLetter, retryDeadLetters } from "../lib/consumer/dead-letters";
import { listConsumers, pauseConsumer, resumeConsumer } from "../lib/consumer/consumers";
import type { ConsumerPause } from "../lib/consumer/pause-rules";
import { type Rebuild, rebuildState, startRebuild } from "../lib/consumer/rebuilds";
import { FieldValidationError } from "../lib/errors";
import { toPublicError } from "../lib/http/http-errors";
import { METRICS } from "../lib/constants";
import { count, registerMetrics } from "../lib/infra/metrics";
import { IDEMPOTENCY_HEADER, scopedIdempotencyKey } from "../lib/http/idempotency-key";
import { publicReadiness } from "../lib/http/public-readiness";
import { acceptedRequestId, REQUEST_ID_HEADER } from "../lib/http/request-id";
import { checkReadiness, gatewayMemory, noteLiveServices } from "../lib/infra/readiness";
import { httpStatusOf } from "../lib/infra/readiness-rules";
import type { DeadLetter } from "../lib/consumer/retries";
import { ACTION_PARAMS } from "../lib/domain/action-params";
import { ADMIN_ROUTES, ROUTES } from "../lib/http/routes";
import { webAssets } from "../lib/http/web-assets";
import type { Page, PageRequest } from "../lib/domain/pagination";
import type { WriteMeta } from "../mixins/event-log.mixin";

/**
 * rateLimit (per minute per client IP, 0 none), trustProxy, adminTokens (none: every admin call
 * is 401) and where the counters live: see mixins/request-gate.mixin.ts.
 */
export interface ApiOptions extends RequestGateOptions, MethodGateOptions {
	port: number;
	host: string;
	/** FAULT_INJECTION is on in this node: shown in /api/ready, which must never hide it */
	faultInjection: boolean;
	/** the program's version (package.json), shown in the OpenAPI document */
	version: string;
	/** the folder of the gateway's static files, the operations page among them (web/, or dist/web once built) */
	webRoot: string;
}

/** moleculer-web's request, as far as we use it. */
interface GatewayRequest extends IncomingMessage {
	$params: { body?: unknown; query?: Record<string, unknown>; params?: Record<string, unknown> } & Record<string, unknown>;
	originalUrl?: string;
}

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
		throw new FieldValidationError(clashes.map((field) => ({ type: "forbidden", field, message: `The '${field}' field cannot be set in the body.` })));
	}
	// query values (page, pageSize) are read as numbers on every route; path values where asked
	return { ...numbersFromText(query), ...fromBody, ...(numbers ? numbersFromText(params) : params) };
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

function sendError(
	this: { broker: ServiceBroker; logger: { error: (...args: unknown[]) => void; warn: (...args: unknown[]) => void } },
	req: IncomingMessage,
	res: ServerResponse,
	err: unknown,
) {
	const error = toPublicError(err);
	// by the status answered: Moleculer's own request metrics carry the error's code, which for a
	// service without a live node (answered 503) is 404, and for an unexpected error (500) none
	count(this.broker, METRICS.httpErrors, { status: String(error.code) });
	// 503/504 are expected in an outage and say all there is to say; any other 5xx is ours to fix
	// (the driver's words of a database outage are logged here, on the node that saw them, and
	// never sent: see DatabaseUnavailableError)
	const cause = (err as { cause?: { message?: unknown } } | null)?.cause?.message;
	const because = typeof cause === "string" ? ` (${cause})` : "";
	if (error.code === 503 || error.code === 504) this.logger.warn(`${req.method} ${req.url}: ${error.code} ${error.message}${because}`);
	else if (error.code >= 500) this.logger.error(`${req.method} ${req.url} failed:`, err);
	if (res.headersSent) return;
	const body = JSON.stringify(error);
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	// set here, not by Node: a HEAD answer (no body written) keeps the length its GET has
	res.setHeader("Content-Length", Buffer.byteLength(body));
	res.writeHead(error.code);
	res.end(body);
}

/**
 * The root context's request id: the client's X-Request-ID when valid, else Moleculer's own.
 * moleculer-web answers with it in X-Request-ID, and it is the id of every log line on the way.
 */
function requestIdOptions(options: { requestID?: string }, req: IncomingMessage): void {
	options.requestID = acceptedRequestId(req.headers[REQUEST_ID_HEADER]);
}

/** The services the gateway's routes call (and, where they run on its node, whose databases it checks). */
const ROUTED_SERVICES = ["clients", "goals"] as const;

export function createApiService(options: ApiOptions): ServiceSchema<ApiSettingsSchema> {
	/** What every route shares: explicit aliases only, JSON bodies up to 100 kB, one params object. */
	const routeBasics = {
		mappingPolicy: "restrict" as const,
		autoAliases: false,
		mergeParams: false,
		// not strict: any well-formed JSON parses, and a body that is not an object is a 422
		// from mergeRequestParams, so that 400 means malformed JSON and nothing else
		bodyParsers: { json: { strict: false, limit: "100kb" }, urlencoded: false },
		// no moleculer-web rateLimit: it counts only requests that reach an alias, after their body
		// is parsed; RequestGateMixin counts every request before anything else happens
	};

	/** what the admin route tells the admin actions */
	type AdminMeta = { adminId?: string };
	/** who an admin change was made by, as its record says: the id of the token the request presented (checked), never the token */
	const adminIdOf = (ctx: Context) => (ctx.meta as AdminMeta).adminId ?? "unknown";

	/** what /api/ready last logged, so that a probe polled every second logs a reason once */
	let lastNotReadyReasons = "";
	/** the services the routes call, which of them have been seen live, the consumers' and relays' last answers */
	const memory = gatewayMemory(ROUTED_SERVICES);

	return {
		name: "api",
		created(this: Service) {
			registerMetrics(this.broker);
		},
		// MethodGateMixin before ApiGateway: it replaces moleculer-web's `rest` handler and resolveAlias;
		// that handler's first step is RequestGateMixin's `requestGate` (rate limit, admin token)
		mixins: [
			MethodGateMixin(options),
			BalancedCallsMixin(),
			ListenWhenStartedMixin(),
			ApiDocsMixin(options.version),
			ApiGateway,
			WebAssetsMixin(),
			RequestGateMixin(options),
		],
		settings: {
			// ListenWhenStartedMixin opens the port, once every service of this node has started
			server: false,
			port: options.port,
			ip: options.host,
			log4XXResponses: false,
			logRequest: "debug",
			logResponse: "debug",
			onError: sendError,
			// web/ (the operations page at /ops/): files for any request no route below takes (lib/http/web-assets.ts)
			assets: webAssets(options.webRoot),
			// moleculer-web also takes a function here (src/index.js, httpHandler); its typings say only an object
			rootCallOptions: requestIdOptions as unknown as CallingOptions,
			routes: [
				{
					// before "/api": moleculer-web takes the first route whose path matches
					path: ADMIN_PATH,
					...routeBasics,
					aliases: ADMIN_ROUTES,
					// RequestGateMixin has checked the token before the body was read; checked again here,
					// where the action is about to be called, so that no path to it can skip the check
					onBeforeCall(ctx: Context, _route: unknown, req: GatewayRequest) {
						if (!isAdmin(req.headers.authorization, options.adminTokens)) {
							throw new WebErrors.UnAuthorizedError(WebErrors.ERR_INVALID_TOKEN, null);
						}
						// with a list of tokens (a rotation), the one this request presented
						(ctx.meta as AdminMeta).adminId = adminTokenId(bearerToken(req.headers.authorization) ?? "");
						// dead-letter ids and consumer names are text ("goals-12", "goals"): no numbers read from the path
						req.$params = mergeRequestParams(req, false);
					},
					onError: sendError,
				},
				{
					path: "/api",
					...routeBasics,
					aliases: ROUTES,
					onBeforeCall(ctx: Context<unknown, WriteMeta>, _route: unknown, req: GatewayRequest) {
						req.$params = mergeRequestParams(req, true);
						const path = (req.originalUrl ?? req.url ?? "").split("?")[0];
						const idempotencyKey = scopedIdempotencyKey(req.method ?? "", path, req.headers[IDEMPOTENCY_HEADER]);
						if (idempotencyKey) ctx.meta.idempotencyKey = idempotencyKey;
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

		events: {
			// a routed service seen live between two probes counts as seen (lib/infra/readiness.ts)
			"$services.changed"() {
				noteLiveServices(this.broker, memory);
			},
		},

		actions: {
			/**
			 * moleculer-web's HTTP handler: never retried by the broker's retry policy, which would
			 * run a request's whole handling again (and answer 404 once the response was used up).
			 */
			rest: { retryPolicy: { enabled: false } },
			// moleculer-web's own actions, no route's target: "public" in moleculer-web, so any node on
			// the transporter could add a route (`api.addRoute` to `$node.options`) or remove ours.
			// Private: not even registered, so a request for them from another node is "not found".
			addRoute: { visibility: "private" },
			removeRoute: { visibility: "private" },
			listAliases: { visibility: "private" },
			deadLetters: {
				params: ACTION_PARAMS["api.deadLetters"],
				handler(ctx: Context<PageRequest & ConsumerFilter>): Promise<Page<DeadLetter>> {
					return listDeadLetters(this.broker, ctx.params);
				},
			},
			retryDeadLetter: {
				params: ACTION_PARAMS["api.retryDeadLetter"],
				handler(ctx: Context<{ id: string }>): Promise<DeadLetter> {
					return retryDeadLetter(this.broker, ctx.params.id);
				},
			},
			editDeadLetter: {
				params: ACTION_PARAMS["api.editDeadLetter"],
				handler(ctx: Context<{ id: string; event: Record<string, unknown> }>): Promise<DeadLetter> {
					return editDeadLetter(this.broker, ctx.params.id, ctx.params.event, adminIdOf(ctx));
				},
			},
			retryDeadLetters: {
				params: ACTION_PARAMS["api.retryDeadLetters"],
				handler(ctx: Context<{ filter: ConsumerFilter }>): Promise<{ retried: number }> {
					return retryDeadLetters(this.broker, ctx.params.filter);
				},
			},
			discardDeadLetters: {
				params: ACTION_PARAMS["api.discardDeadLetters"],
				handler(ctx: Context<{ filter: ConsumerFilter }>): Promise<{ discarded: number }> {
					return discardDeadLetters(this.broker, ctx.params.filter);
				},
			},
			consumers: {
				params: ACTION_PARAMS["api.consumers"],
				handler(): Promise<ConsumerPause[]> {
					return listConsumers(this.broker);
				},
			},
			pauseConsumer: {
				params: ACTION_PARAMS["api.pauseConsumer"],
				handler(ctx: Context<{ consumer: string; reason?: string }>): Promise<ConsumerPause> {
					return pauseConsumer(this.broker, ctx.params.consumer, adminIdOf(ctx), ctx.params.reason);
				},
			},
			resumeConsumer: {
				params: ACTION_PARAMS["api.resumeConsumer"],
				handler(ctx: Context<{ consumer: string }>): Promise<ConsumerPause> {
					return resumeConsumer(this.broker, ctx.params.consumer, adminIdOf(ctx));
				},
			},
			rebuild: {
				params: ACTION_PARAMS["api.rebuild"],
				async handler(ctx: Context<{ consumer: string }, Record<string, unknown>>): Promise<Rebuild> {
					const rebuild = await startRebuild(this.broker, ctx.params.consumer);
					// accepted: it runs on, and GET /api/admin/rebuild/:consumer follows it
					ctx.meta.$statusCode = 202;
					return rebuild;
				},
			},
			rebuildState: {
				params: ACTION_PARAMS["api.rebuildState"],
				handler(ctx: Context<{ consumer: string }>): Promise<Rebuild> {
					return rebuildState(this.broker, ctx.params.consumer);
				},
			},
			health: {
				handler() {
					return { status: "UP" };
				},
			},
			ready: {
				async handler(ctx: Context<unknown, Record<string, unknown>>) {
					const readiness = await checkReadiness(this.broker, ROUTED_SERVICES, memory);
					// DEGRADED (a routed service without a live node, its routes 503) is still a 200:
					// the gateway serves the other services' routes and stays in the load balancer
					ctx.meta.$statusCode = httpStatusOf(readiness.status);
					// an extra component (the contract's four stay as they are): a node that can be made
					// to fail on purpose says so; it does not make the node unready
					const faultInjection = { status: "UP", enabled: options.faultInjection };
					// the probes' error words (hosts, ports) go to the log, once per change, not to the caller
					const { answer, details } = publicReadiness({ ...readiness, components: { ...readiness.components, faultInjection } });
					const reasons = details.join("; ");
					if (reasons !== lastNotReadyReasons && reasons) this.logger.warn(`Not ready: ${reasons}`);
					lastNotReadyReasons = reasons;
					return answer;
				},
			},
		},
	};
}
