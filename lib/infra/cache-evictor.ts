/**
 * Evicts the cache entries a committed write made stale, without ever holding up the write:
 * - each eviction is bounded in time (a hung or absent Redis answers nothing);
 * - a failed eviction is kept and retried every second until the cache answers again, so an
 *   entry cannot outlive a Redis outage as a stale answer;
 * - a read that began before the commit may store its old answer after the eviction. The
 *   project's Redis cacher refuses that store (its fences, lib/infra/redis-cacher.ts), and its
 *   eviction is one round trip whatever it holds (entity keys and list hashes). With any other
 *   cacher (the one process's memory) every eviction is repeated once 0.5–0.75 s later, the
 *   repeats of all writes in that window in one call.
 */
import type { Service, ServiceBroker } from "moleculer";
import { ListPagesRedisCacher, listPatternOf } from "./redis-cacher";

type Cacher = NonNullable<ServiceBroker["cacher"]>;
type Logger = Service["logger"];

const EVICT_TIMEOUT_MS = 1000;
const RETRY_EVERY_MS = 1000;
/** the least time between a key's eviction and its repeat */
const REEVICT_AFTER_MS = 500;
/** how often due repeats are sent (a repeat comes REEVICT_AFTER_MS to that plus this after its eviction) */
const REEVICT_EVERY_MS = 250;

export class CacheEvictor {
	private readonly pending = new Set<string>();
	private retryTimer?: NodeJS.Timeout;
	/** keys to evict again, with when (ms since epoch) */
	private readonly repeats = new Map<string, number>();
	private repeatTimer?: NodeJS.Timeout;

	constructor(
		private readonly cacher: Cacher | undefined,
		private readonly logger: Logger,
		private readonly now: () => number = Date.now,
	) {}

	async evict(keys: string[]): Promise<void> {
		if (!this.cacher || keys.length === 0) return;
		await this.attempt(keys);
		if (this.cacher instanceof ListPagesRedisCacher) return;
		const due = this.now() + REEVICT_AFTER_MS;
		for (const key of keys) this.repeats.set(key, due);
		this.repeatTimer ??= setInterval(() => void this.repeatDue(), REEVICT_EVERY_MS).unref();
	}

	stop(): void {
		clearInterval(this.retryTimer);
		this.retryTimer = undefined;
		clearInterval(this.repeatTimer);
		this.repeatTimer = undefined;
	}

	private async repeatDue(): Promise<void> {
		const now = this.now();
		const due: string[] = [];
		for (const [key, at] of this.repeats) if (at <= now) due.push(key);
		for (const key of due) this.repeats.delete(key);
		if (this.repeats.size === 0) {
			clearInterval(this.repeatTimer);
			this.repeatTimer = undefined;
		}
		if (due.length > 0) await this.attempt(due);
	}

	/** One command for the project's Redis cacher; a DEL of the exact keys and a clean per pattern for any other. */
	private send(keys: string[]): Promise<unknown> {
		const cacher = this.cacher as Cacher;
		if (cacher instanceof ListPagesRedisCacher && keys.every((key) => !key.includes("*") || listPatternOf(key) !== null)) {
			return cacher.delWithLists(keys);
		}
		const exact = keys.filter((key) => !key.includes("*"));
		const patterns = keys.filter((key) => key.includes("*"));
		return Promise.all([...(exact.length > 0 ? [cacher.del(exact)] : []), ...patterns.map((pattern) => cacher.clean(pattern))]);
	}

	private async attempt(keys: string[]): Promise<boolean> {
		let timer: NodeJS.Timeout | undefined;
		try {
			await Promise.race([
				this.send(keys),
				new Promise((_, reject) => {
					timer = setTimeout(() => reject(new Error(`no answer within ${EVICT_TIMEOUT_MS} ms`)), EVICT_TIMEOUT_MS);
				}),
			]);
			for (const key of keys) this.pending.delete(key);
			return true;
		} catch (err) {
			if (this.pending.size === 0) {
				this.logger.warn(`Cache eviction failed (${(err as Error).message}); retrying every second until the cache answers.`);
			}
			for (const key of keys) this.pending.add(key);
			this.retryTimer ??= setInterval(() => void this.retryPending(), RETRY_EVERY_MS).unref();
			return false;
		} finally {
			clearTimeout(timer);
		}
	}

	private async retryPending(): Promise<void> {
		if (this.pending.size === 0) {
			clearInterval(this.retryTimer);
			this.retryTimer = undefined;
			return;
		}
		if (await this.attempt([...this.pending])) {
			this.logger.info("Cache answers again; pending evictions done.");
			clearInterval(this.retryTimer);
			this.retryTimer = undefined;
		}
	}
}
