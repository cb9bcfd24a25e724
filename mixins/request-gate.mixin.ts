/**
 * Wires the gateway's first step (lib/http/request-gate.ts) into moleculer-web: the
 * `requestGate` method, which the gateway's `rest` handler (mixins/method-gate.mixin.ts) runs
 * before anything else, so every HTTP request goes through it before it is routed or its body
 * read. (It was a `before` hook of `rest`: Moleculer's hooks chain three promises on every call,
 * and a request with nothing to count now costs none.) Owns the counters' store: Redis (shared
 * by all api replicas) when the configuration gives a Redis connection, else this process's
 * memory.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RedisOptions } from "ioredis";
import type { Context, ServiceSchema } from "moleculer";
import { MemoryWindowStore, RedisWindowStore, type WindowStore } from "../lib/http/rate-limit";
import { type GateOptions, RATE_WINDOW_MS, RequestGate } from "../lib/http/request-gate";

export interface RequestGateOptions extends GateOptions {
	/** where the counters live when CACHER is Redis (the cacher's connection options), else null */
	redis: { connection: RedisOptions; keyPrefix: string } | null;
}

export function RequestGateMixin(options: RequestGateOptions): Partial<ServiceSchema> {
	let store: WindowStore | undefined;
	let gate: RequestGate | undefined;
	// Nothing to count without a rate limit or an admin token: no store, no Redis connection.
	const counts = options.rateLimit > 0 || options.adminTokens.length > 0;

	return {
		methods: {
			/** The request's first step: undefined when it may go on at once, else a promise that settles when it may (or rejects: 401, 429). */
			requestGate(ctx: Context<{ req: IncomingMessage; res: ServerResponse }>): Promise<void> | undefined {
				// a 401 or 429 from here carries the request's id, as every answer from the handler does
				if (ctx.requestID) ctx.params.res.setHeader("X-Request-ID", ctx.requestID);
				return gate?.check(ctx.params.req, ctx.params.res);
			},
		},

		created() {
			const local = new MemoryWindowStore(RATE_WINDOW_MS);
			store =
				counts && options.redis
					? new RedisWindowStore({
							connection: options.redis.connection,
							keyPrefix: options.redis.keyPrefix,
							windowMs: RATE_WINDOW_MS,
							fallback: local,
							onFallback: (isLocal, reason) => {
								if (isLocal) {
									this.logger.warn(
										`Rate limits: Redis unreachable (${reason}); counting in this process until it answers (each api replica then limits alone)`,
									);
								} else {
									this.logger.info("Rate limits: Redis answers again; counting there, shared by every api replica");
								}
							},
						})
					: local;
			gate = new RequestGate(options, store);
		},

		async started() {
			// wait for the first connection, so that the first requests are counted where the rest are
			if (store instanceof RedisWindowStore) await store.connect();
		},

		async stopped() {
			await store?.close();
		},
	};
}
