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
 * The hash expires as a whole, `ttl` after its last page was stored: a page lives until the
 * next write of its service or that long, whichever comes first (Redis 7.0, the oldest we
 * support, has no expiry per field). Moleculer's cacher counters (`moleculer.cacher.*.total`)
 * count these pages as they count the other keys.
 */
import type { Redis } from "ioredis";
import { Cachers, METRIC } from "moleculer";

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
		await this.client.del(...(hashes as string[]).map((hash) => this.name(hash)));
	}

	/**
	 * Delete entity keys and whole list hashes in one DEL: each key is an exact key (`clients.get:id=7`)
	 * or the pattern of every page of one service's lists (`clients.list:**`, see listPatternOf).
	 */
	async delWithLists(keys: readonly string[]): Promise<void> {
		const hashes = keys.map(listPatternOf);
		// counted as Moleculer counts its own calls: one del, one clean
		if (hashes.some((hash) => hash === null)) this.metrics.increment(METRIC.MOLECULER_CACHER_DEL_TOTAL);
		if (hashes.some((hash) => hash !== null)) this.metrics.increment(METRIC.MOLECULER_CACHER_CLEAN_TOTAL);
		await this.client.del(...keys.map((key, index) => this.name(hashes[index] ?? key)));
	}

	private name(hash: string): string {
		return `${this.prefix ?? ""}${hash}`;
	}
}
