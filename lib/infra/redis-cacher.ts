/**
 * Moleculer's Redis cacher, with each service's list pages kept in one Redis hash.
 *
 * A write stales every page of its service's lists (`clients.list:**`, lib/infra/cache-keys.ts).
 * Moleculer's `clean(pattern)` finds them with SCAN over the whole keyspace, 100 keys a round
 * trip: on a Redis shared with other programs (ours is: CONTRACT.md's CACHER is any Redis) every
 * write would walk everyone's keys, and a million keys next door make each write 10,000 round
 * trips. Here the pages of `<service>.list` are the fields of the hash `<prefix><service>.list`,
 * so that cleaning them is one DEL whatever else the server holds; every other key (an entity's
 * `clients.get:id=7`) stays a key of its own, as Moleculer stores it.
 *
 * Fences instead of a second eviction. A read that missed the cache before a write committed may
 * store what it read after the write's eviction: a stale answer until the next write or the TTL.
 * An eviction here also sets a fence beside each key it deletes (`<prefix>fence:<key>`, a value
 * of its own, 60 s); a read that misses takes the fence's value with its GET (one round trip), and
 * its answer is stored only if the fence still has that value (a Lua script: compare and store in
 * one step). So an answer read before an eviction is never stored after it, on whichever node it
 * was read, and no eviction has to be repeated. (Single Redis only, as CACHER is: the fence and
 * its key are not hash-tagged for Redis Cluster.)
 *
 * The hash expires as a whole, `ttl` after its last page was stored: a page lives until the
 * next write of its service or that long, whichever comes first (Redis 7.0, the oldest we
 * support, has no expiry per field). Moleculer's cacher counters (`moleculer.cacher.*.total`)
 * count these pages as they count the other keys.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { Cachers, type Context, METRIC } from "moleculer";

/** `<service>.list:<params>` → `<service>.list`, for the keys kept in a hash; null for the others. */
export function listHashOf(key: string): string | null {
	const colon = key.indexOf(":");
	if (colon <= 0) return null;
	const action = key.slice(0, colon);
	return action.endsWith(".list") && !action.includes("*") ? action : null;
}

/** A pattern that means "every page of one service's lists" (`<service>.list:**` or `:*`) → that hash; null for any other. */
export function listPatternOf(pattern: string): string | null {
	const match = /^([^*:]+\.list):\*{1,2}$/.exec(pattern);
	return match ? match[1] : null;
}

type Serializer = { serialize(data: unknown): Buffer; deserialize(data: Buffer): unknown };

/** How long a fence outlives its eviction: longer than any read can take (requests time out within 10 s). */
const FENCE_TTL_MS = 60_000;

/**
 * KEYS: the key (or list hash), its fence. ARGV: the fence the read saw ('' for none), the value,
 * the TTL in seconds ('0': none), the hash field ('' for a key of its own). Stores only if the
 * fence is unchanged; answers 1 if it stored.
 */
const STORE_IF_FENCE_UNCHANGED = `
local fence = redis.call('GET', KEYS[2]) or ''
if fence ~= ARGV[1] then return 0 end
if ARGV[4] == '' then
  if ARGV[3] ~= '0' then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) else redis.call('SET', KEYS[1], ARGV[2]) end
else
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[2])
  if ARGV[3] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
end
return 1`;

/** Where a cache key lives in Redis: a key of its own, or a field of its service's list hash; and its fence. */
interface Place {
	redisKey: string;
	field: string | null;
	fence: string;
}

export class ListPagesRedisCacher extends Cachers.Redis<Redis> {
	/** set by Moleculer's init (JSON unless the options say otherwise) */
	declare serializer: Serializer;

	override get(key: string): Promise<Record<string, unknown> | null> {
		const hash = listHashOf(key);
		if (!hash) return super.get(key);
		this.metrics.increment(METRIC.MOLECULER_CACHER_GET_TOTAL);
		return this.client.hgetBuffer(this.name(hash), key).then((data) => {
			if (!data) return this.opts.missingResponse;
			this.metrics.increment(METRIC.MOLECULER_CACHER_FOUND_TOTAL);
			try {
				return this.serializer.deserialize(data) as Record<string, unknown>;
			} catch (err) {
				this.logger.error("Redis result parse error.", err);
				return this.opts.missingResponse;
			}
		});
	}

	override async set(key: string, data: unknown, ttl?: number): Promise<void> {
		const hash = listHashOf(key);
		if (!hash) return super.set(key, data, ttl);
		this.metrics.increment(METRIC.MOLECULER_CACHER_SET_TOTAL);
		const seconds = ttl ?? this.opts.ttl;
		const multi = this.client.multi().hset(this.name(hash), key, this.serializer.serialize(data));
		if (seconds) multi.expire(this.name(hash), seconds);
		await multi.exec();
	}

	override async clean(match: string | string[] = "*"): Promise<void> {
		const patterns = Array.isArray(match) ? match : [match];
		const hashes = patterns.map(listPatternOf);
		if (hashes.some((hash) => hash === null)) return super.clean(match);
		this.metrics.increment(METRIC.MOLECULER_CACHER_CLEAN_TOTAL);
		await this.evictFenced((hashes as string[]).map((hash) => this.name(hash)));
	}

	/** Moleculer's read-through step (actions cached without a lock, as ours are), with the fence kept from the read to the store. */
	override middlewareWithoutLock(ctx: Context, cacheKey: string, handler: (ctx: Context) => Promise<unknown>, opts: { ttl?: number }): Promise<unknown> {
		return this.getFenced(cacheKey).then(({ content, fence }) => {
			if (content !== this.opts.missingResponse) {
				ctx.cachedResult = true;
				return content;
			}
			return handler(ctx).then((result) => {
				// not awaited, as Moleculer does not: the answer does not wait for the cache
				void this.storeIfFenceUnchanged(cacheKey, result, opts.ttl, fence).catch((err: Error) =>
					this.logger.warn(`Storing ${cacheKey} in the cache failed (${err.message}); the next read reads it again.`),
				);
				return result;
			});
		});
	}

	/** The cached value (or the missing response) and the fence beside it, in one round trip. */
	private async getFenced(key: string): Promise<{ content: unknown; fence: string }> {
		const place = this.place(key);
		this.metrics.increment(METRIC.MOLECULER_CACHER_GET_TOTAL);
		const pipeline = this.client.pipeline();
		if (place.field) pipeline.hgetBuffer(place.redisKey, place.field);
		else pipeline.getBuffer(place.redisKey);
		pipeline.get(place.fence);
		const answers = (await pipeline.exec()) ?? [];
		const [dataError, data] = answers[0] ?? [new Error("no answer"), null];
		const [fenceError, fence] = answers[1] ?? [new Error("no answer"), null];
		if (dataError) throw dataError;
		if (fenceError) throw fenceError;
		const stamp = typeof fence === "string" ? fence : "";
		if (!data) return { content: this.opts.missingResponse, fence: stamp };
		try {
			const content = this.serializer.deserialize(data as Buffer);
			this.metrics.increment(METRIC.MOLECULER_CACHER_FOUND_TOTAL);
			return { content, fence: stamp };
		} catch (err) {
			this.logger.error("Redis result parse error.", err);
			return { content: this.opts.missingResponse, fence: stamp };
		}
	}

	private async storeIfFenceUnchanged(key: string, data: unknown, ttl: number | undefined, fence: string): Promise<boolean> {
		const place = this.place(key);
		this.metrics.increment(METRIC.MOLECULER_CACHER_SET_TOTAL);
		const seconds = ttl ?? this.opts.ttl ?? 0;
		const stored = await this.client.eval(
			STORE_IF_FENCE_UNCHANGED,
			2,
			place.redisKey,
			place.fence,
			fence,
			this.serializer.serialize(data),
			String(seconds),
			place.field ?? "",
		);
		return stored === 1;
	}

	/** Delete these Redis keys and set a new fence beside each, in one MULTI. */
	private async evictFenced(redisKeys: readonly string[]): Promise<void> {
		const multi = this.client.multi();
		for (const redisKey of redisKeys) {
			multi.del(redisKey);
			multi.set(this.fenceOf(redisKey), this.nextFence(), "PX", FENCE_TTL_MS);
		}
		await multi.exec();
	}

	/**
	 * Delete entity keys and whole list hashes in one round trip, each with its fence: each key is an exact key (`clients.get:id=7`)
	 * or the pattern of every page of one service's lists (`clients.list:**`, see listPatternOf).
	 */
	async delWithLists(keys: readonly string[]): Promise<void> {
		const hashes = keys.map(listPatternOf);
		// counted as Moleculer counts its own calls: one del, one clean
		if (hashes.some((hash) => hash === null)) this.metrics.increment(METRIC.MOLECULER_CACHER_DEL_TOTAL);
		if (hashes.some((hash) => hash !== null)) this.metrics.increment(METRIC.MOLECULER_CACHER_CLEAN_TOTAL);
		await this.evictFenced(keys.map((key, index) => this.name(hashes[index] ?? key)));
	}

	private place(key: string): Place {
		const hash = listHashOf(key);
		const redisKey = this.name(hash ?? key);
		return { redisKey, field: hash ? key : null, fence: this.fenceOf(redisKey) };
	}

	private fenceOf(redisKey: string): string {
		return `${this.prefix ?? ""}fence:${redisKey.slice((this.prefix ?? "").length)}`;
	}

	/** A value no other eviction sets: this cacher's random id and a counter. */
	private nextFence(): string {
		return `${this.fenceId}:${++this.fences}`;
	}

	private readonly fenceId = randomBytes(6).toString("hex");
	private fences = 0;

	private name(hash: string): string {
		return `${this.prefix ?? ""}${hash}`;
	}
}
