/**
 * The gateway's first step for every HTTP request, before it is routed and before its body is
 * read: the rate limit per client IP (RATE_LIMIT), then, under /api/admin, the bearer token and
 * the limit on failed admin attempts.
 *
 * It runs first in moleculer-web's `rest` action (mixins/request-gate.mixin.ts, called by the
 * handler of mixins/method-gate.mixin.ts), through which every request passes, so every answer
 * counts: unknown routes (404), wrong methods, malformed or oversized bodies (400, 413: the body
 * parsers run later, inside the route) and invalid input (422) alike. moleculer-web's own `rateLimit` ran inside the route,
 * after the body parsers and only for requests that matched an alias: it never counted those.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Errors as WebErrors } from "moleculer-web";
import { RateLimitedError } from "../errors";
import { ADMIN_FAILURES_PER_WINDOW, isAdmin, isAdminPath } from "./admin-auth";
import { clientIp } from "./client-ip";
import type { WindowCount, WindowStore } from "./rate-limit";

/** One window for both limits: RATE_LIMIT is "requests per minute". */
export const RATE_WINDOW_MS = 60_000;

export interface GateOptions {
	/** requests per window per client IP; 0 is no limit */
	rateLimit: number;
	/** trusted reverse-proxy hops (TRUST_PROXY): which X-Forwarded-For entry is the client */
	trustProxy: number;
	/** bearer tokens for /api/admin/*, any of them accepted (ADMIN_TOKEN's comma list); none: every admin call is 401 */
	adminTokens: readonly string[];
}

/** Counter keys: one family, two limits. */
const KEYS = {
	requests: (ip: string) => `req:${ip}`,
	adminFailures: (ip: string) => `admin-fail:${ip}`,
};

/** A CORS preflight carries no credentials by design; what is allowed is the CORS step's to say. */
function isPreflight(req: IncomingMessage): boolean {
	return req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
}

function limited(res: ServerResponse, window: WindowCount): RateLimitedError {
	const seconds = Math.max(1, Math.ceil(window.resetInMs / 1000));
	res.setHeader("Retry-After", String(seconds));
	return new RateLimitedError(seconds);
}

export class RequestGate {
	constructor(
		private readonly options: GateOptions,
		private readonly counters: WindowStore,
	) {}

	/** Throws the answer (429, 401) if the request goes no further; sets the rate-limit headers. */
	check(req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
		const admin = isAdminPath(req.url) && !isPreflight(req);
		// nothing to count: answered at once, without a promise (every request of an API without a rate limit)
		if (this.options.rateLimit === 0 && !admin) return undefined;
		return this.counted(req, res, admin);
	}

	private async counted(req: IncomingMessage, res: ServerResponse, admin: boolean): Promise<void> {
		const { rateLimit } = this.options;
		const ip = clientIp(req, this.options.trustProxy);
		if (rateLimit > 0) {
			const window = await this.counters.hit(KEYS.requests(ip));
			res.setHeader("X-Rate-Limit-Limit", String(rateLimit));
			res.setHeader("X-Rate-Limit-Remaining", String(Math.max(0, rateLimit - window.count)));
			if (window.count > rateLimit) throw limited(res, window);
		}
		if (admin) await this.checkAdmin(req, res, ip);
	}

	/**
	 * After ADMIN_FAILURES_PER_WINDOW failures, every admin call from that IP is 429 until the
	 * window ends, the right token included: otherwise the guess that hits would still be told.
	 * Without ADMIN_TOKEN there is nothing to guess, and nothing is counted.
	 */
	private async checkAdmin(req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
		const { adminTokens } = this.options;
		if (adminTokens.length === 0) throw new WebErrors.UnAuthorizedError(WebErrors.ERR_INVALID_TOKEN, null);
		const key = KEYS.adminFailures(ip);
		if (isAdmin(req.headers.authorization, adminTokens)) {
			const failures = await this.counters.peek(key);
			if (failures.count >= ADMIN_FAILURES_PER_WINDOW) throw limited(res, failures);
			return;
		}
		const failures = await this.counters.hit(key);
		if (failures.count > ADMIN_FAILURES_PER_WINDOW) throw limited(res, failures);
		throw new WebErrors.UnAuthorizedError(WebErrors.ERR_INVALID_TOKEN, null);
	}
}
