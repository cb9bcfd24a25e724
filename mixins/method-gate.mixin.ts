/**
 * Wires the method gate (lib/http/method-gate.ts) into moleculer-web: a route answers only its
 * own method, OPTIONS and CORS are the gateway's, HEAD is GET without a body. Mixed in BEFORE
 * ApiGateway (Moleculer lets the first mixin win), because it replaces two of moleculer-web's
 * own pieces: the `rest` handler (the request gate of mixins/request-gate.mixin.ts runs first,
 * then this gate, then moleculer-web's routing) and `resolveAlias` (HEAD finds the GET route).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type ActionHandler, type ActionSchema, type Context, Errors, type Service, type ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { MethodNotAllowedError } from "../lib/errors";
import { decide } from "../lib/http/method-gate";

export interface MethodGateOptions {
	/** CORS_ORIGINS: origins allowed to call the API from a browser; empty means no CORS */
	corsOrigins: readonly string[];
}

/** moleculer-web's alias, as far as the gate reads it. */
interface Alias {
	method: string;
	re: RegExp;
}

/** The parts of moleculer-web's service the gate uses. */
interface Gateway {
	aliases: Alias[];
	/** the request gate (mixins/request-gate.mixin.ts): undefined when the request may go on at once */
	requestGate(ctx: Context<RestParams>): Promise<void> | undefined;
	parseQueryString(req: IncomingMessage): { url: string };
	sendError(req: IncomingMessage, res: ServerResponse, err: Error): void;
	send404(req: IncomingMessage, res: ServerResponse): void;
}

type RestParams = { req: IncomingMessage; res: ServerResponse };

const webRest = (ApiGateway.actions?.rest as ActionSchema | undefined)?.handler as ActionHandler;
const webResolveAlias = ApiGateway.methods?.resolveAlias as (this: unknown, url: string, method?: string) => unknown;

function header(req: IncomingMessage, name: string): string | undefined {
	const value = req.headers[name];
	return Array.isArray(value) ? value[0] : value;
}

/** The request's path as moleculer-web routes it: without the query, without a trailing slash. */
function routedPath(gateway: Gateway, req: IncomingMessage): string {
	const { url } = gateway.parseQueryString(req);
	return url.length > 1 && url.endsWith("/") ? url.slice(0, -1) : url;
}

export function MethodGateMixin(options: MethodGateOptions): Partial<ServiceSchema> {
	const origins = new Set(options.corsOrigins);

	/** The method gate, then moleculer-web's own routing (this: the gateway service). */
	function routeByMethod(this: Service, ctx: Context<RestParams>) {
		const gateway = this as unknown as Gateway;
		const { req, res } = ctx.params;
		const path = routedPath(gateway, req);
		// the common case, decided without the full gate: not a preflight, no origin to
		// answer, and a route of the request's own method on the path (decide would say
		// "route", with Vary when CORS is on)
		const method = req.method ?? "GET";
		if (
			method !== "OPTIONS" &&
			(origins.size === 0 || req.headers.origin === undefined) &&
			gateway.aliases.some((alias) => alias.method === method && alias.re.test(path))
		) {
			if (origins.size > 0) res.setHeader("Vary", "Origin");
			return webRest.call(this, ctx);
		}
		const routeMethods = gateway.aliases.filter((alias) => alias.re.test(path)).map((alias) => alias.method);
		const decision = decide({ method, origin: header(req, "origin"), requestMethod: header(req, "access-control-request-method") }, routeMethods, origins);
		for (const [name, value] of Object.entries(decision.headers)) res.setHeader(name, value);
		if (decision.kind === "route") return webRest.call(this, ctx);

		// answered here, so as moleculer-web would have: with the request's id
		if (ctx.requestID) res.setHeader("X-Request-ID", ctx.requestID);
		if (decision.kind === "preflight") {
			res.writeHead(204);
			res.end();
		} else if (decision.kind === "not-allowed") {
			res.setHeader("Allow", decision.allow.join(", "));
			gateway.sendError(req, res, new MethodNotAllowedError(req.method ?? "", decision.allow));
		} else {
			gateway.send404(req, res);
		}
		// routed: moleculer-web's httpHandler must not answer a second time
		return true;
	}

	return {
		created(this: Service) {
			// the request gate is this handler's first step: without it the rate limit would be gone silently
			if (typeof (this as unknown as Partial<Gateway>).requestGate !== "function") {
				throw new Errors.ServiceSchemaError("MethodGateMixin needs RequestGateMixin: its `requestGate` is the rest handler's first step", {});
			}
		},
		actions: {
			rest: {
				handler(ctx: Context<RestParams>) {
					const gated = (this as unknown as Gateway).requestGate(ctx);
					return gated ? gated.then(() => routeByMethod.call(this, ctx)) : routeByMethod.call(this, ctx);
				},
			},
		},
		methods: {
			/** HEAD is answered by the path's GET route; Node sends no body with a HEAD answer. */
			resolveAlias(url: string, method = "GET") {
				return webResolveAlias.call(this, url, method === "HEAD" ? "GET" : method);
			},
			/**
			 * JSON with its Content-Length set here: Node computes it only when it writes a body, so
			 * a HEAD answer would lack the header its GET has.
			 */
			encodeResponse(_req: IncomingMessage, res: ServerResponse, data: unknown): string {
				const chunk: string | undefined = JSON.stringify(data);
				if (chunk !== undefined) res.setHeader("Content-Length", Buffer.byteLength(chunk));
				return chunk as string;
			},
		},
	};
}
