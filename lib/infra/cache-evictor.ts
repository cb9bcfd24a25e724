/**
 * Evicts the cache entries a committed write made stale, without ever holding up the write:
 * - each eviction is bounded in time (a hung or absent Redis answers nothing);
 * - a failed eviction is kept and retried every second until the cache answers again, so an
 *   entry cannot outlive a Redis outage as a stale answer;
 * - every eviction is repeated once shortly after, because a read that began before the commit
 *   may store its old answer after the first eviction.
 */
import type { Service, ServiceBroker } from "moleculer";

type Cacher = NonNullable<ServiceBroker["cacher"]>;
type Logger = Service["logger"];

const EVICT_TIMEOUT_MS = 1000;
const RETRY_EVERY_MS = 1000;
const REEVICT_AFTER_MS = 500;

export class CacheEvictor {
	private readonly pending = new Set<string>();
	private retryTimer?: NodeJS.Timeout;

	constructor(
		private readonly cacher: Cacher | undefined,
		private readonly logger: Logger,
	) {}

	async evict(keys: string[]): Promise<void> {
		if (!this.cacher || keys.length === 0) return;
		await this.attempt(keys);
		setTimeout(() => void this.attempt(keys), REEVICT_AFTER_MS).unref();
	}

	stop(): void {
		clearInterval(this.retryTimer);
		this.retryTimer = undefined;
	}

	private async attempt(keys: string[]): Promise<boolean> {
		const cacher = this.cacher as Cacher;
		let timer: NodeJS.Timeout | undefined;
		try {
			// exact keys in one DEL; only patterns need a clean (a SCAN of the keyspace on Redis)
			const exact = keys.filter((key) => !key.includes("*"));
			const patterns = keys.filter((key) => key.includes("*"));
			await Promise.race([
				Promise.all([...(exact.length > 0 ? [cacher.del(exact)] : []), ...patterns.map((pattern) => cacher.clean(pattern))]),
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
		if (this.pending.size === 0) return this.stop();
		if (await this.attempt([...this.pending])) {
			this.logger.info("Cache answers again; pending evictions done.");
			this.stop();
		}
	}
}
