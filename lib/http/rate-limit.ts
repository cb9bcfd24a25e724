/**
 * Fixed-window request counters for the gateway: requests per client IP (RATE_LIMIT) and failed
 * admin attempts per client IP share them, each under its own key.
 *
 * A window opens with a key's first hit and lasts `windowMs`; at its end the count starts again
 * from 0. With CACHER=redis://… the counters live in Redis, so all api replicas share one limit
 * (one atomic Lua script: INCR, and PEXPIRE on the window's first hit). Redis down or slow is no
 * reason to refuse requests: the gateway fails open and counts in its own memory until Redis
 * answers again (each replica then enforces the limit alone). Without Redis the counters are in
 * memory, bounded: ended windows are dropped, and past `maxKeys` the oldest window goes first.
 */
import Redis, { type RedisOptions } from "ioredis";

export interface WindowCount {
	/** hits on the key in its current window (this one included, for `hit`) */
	count: number;
	/** ms until the window ends and the count starts again from 0 */
	resetInMs: number;
}

export interface WindowStore {
	/** Count one hit on `key` and return the window's count. */
	hit(key: string): Promise<WindowCount>;
	/** The window's count, without counting. */
	peek(key: string): Promise<WindowCount>;
	close(): Promise<void>;
}

interface Window {
	count: number;
	endsAt: number;
}

/** A monotonic clock (ms): a wall clock set back would keep windows open. */
const monotonic = (): number => performance.now();

export class MemoryWindowStore implements WindowStore {
	/**
	 * In the order the windows opened, which is the order they end (all last `windowMs`): the
	 * ended ones are always at the front, so dropping them costs nothing per hit.
	 */
	private readonly windows = new Map<string, Window>();

	constructor(
		private readonly windowMs: number,
		private readonly maxKeys = 100_000,
		private readonly now: () => number = monotonic,
	) {}

	get size(): number {
		return this.windows.size;
	}

	async hit(key: string): Promise<WindowCount> {
		return this.hitNow(key);
	}

	async peek(key: string): Promise<WindowCount> {
		const now = this.now();
		this.dropEnded(now);
		const window = this.windows.get(key);
		return window ? { count: window.count, resetInMs: window.endsAt - now } : { count: 0, resetInMs: this.windowMs };
	}

	/** `hit` without the promise, for the Redis store's fallback and for unit tests. */
	hitNow(key: string): WindowCount {
		const now = this.now();
		this.dropEnded(now);
		let window = this.windows.get(key);
		if (!window) {
			window = { count: 0, endsAt: now + this.windowMs };
			this.windows.set(key, window);
			// a flood of distinct keys costs the oldest windows, never unbounded memory
			if (this.windows.size > this.maxKeys) this.windows.delete(this.windows.keys().next().value as string);
		}
		window.count += 1;
		return { count: window.count, resetInMs: window.endsAt - now };
	}

	private dropEnded(now: number): void {
		for (const [key, window] of this.windows) {
			if (window.endsAt > now) return;
			this.windows.delete(key);
		}
	}

	async close(): Promise<void> {
		this.windows.clear();
	}
}

/** INCR, and the window's expiry on its first hit (or if a key somehow has none). Returns [count, ms left]. */
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
	ttl = tonumber(ARGV[1])
end
return {count, ttl}`;

const PEEK_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
return {count, ttl}`;

interface CounterCommands {
	cgRateHit(key: string, windowMs: number): Promise<[number, number]>;
	cgRatePeek(key: string): Promise<[number, number]>;
}

export interface RedisWindowStoreOptions {
	/** ioredis options from the CACHER URL (moleculer.config.ts parses it once for both) */
	connection: RedisOptions;
	/** prefix of every counter key, e.g. `cg-ratelimit:<namespace>:` */
	keyPrefix: string;
	windowMs: number;
	/** counts while Redis cannot */
	fallback: MemoryWindowStore;
	/** told once when counting moves to this process (with the reason) and once when it is back in Redis */
	onFallback(local: boolean, reason?: string): void;
	/** how long an answer from Redis may take before this request is counted locally (ms) */
	commandTimeoutMs?: number;
	/** after a failure, how long to count locally before asking Redis again (ms) */
	retryAfterFailureMs?: number;
}

export class RedisWindowStore implements WindowStore {
	private readonly redis: Redis & CounterCommands;
	/** counting locally until then (monotonic ms); 0 while Redis answers */
	private localUntil = 0;
	private local = false;

	constructor(private readonly options: RedisWindowStoreOptions) {
		this.redis = new Redis({
			...options.connection,
			keyPrefix: options.keyPrefix,
			lazyConnect: true,
			commandTimeout: options.commandTimeoutMs ?? 500,
		}) as Redis & CounterCommands;
		// failures are seen (and reported) through the commands; an `error` event without a
		// listener would only be printed by ioredis
		this.redis.on("error", () => undefined);
		this.redis.defineCommand("cgRateHit", { numberOfKeys: 1, lua: HIT_SCRIPT });
		this.redis.defineCommand("cgRatePeek", { numberOfKeys: 1, lua: PEEK_SCRIPT });
	}

	/** Connect once before serving; unreachable now just means counting locally for now. */
	async connect(): Promise<void> {
		try {
			await this.redis.connect();
		} catch (err) {
			this.failed(err);
		}
	}

	hit(key: string): Promise<WindowCount> {
		return this.ask(
			() => this.redis.cgRateHit(key, this.options.windowMs),
			() => this.options.fallback.hitNow(key),
		);
	}

	peek(key: string): Promise<WindowCount> {
		return this.ask(
			() => this.redis.cgRatePeek(key),
			() => this.options.fallback.peek(key),
		);
	}

	private async ask(inRedis: () => Promise<[number, number]>, locally: () => WindowCount | Promise<WindowCount>): Promise<WindowCount> {
		if (monotonic() < this.localUntil) return locally();
		try {
			const [count, ttl] = await inRedis();
			if (this.local) {
				this.local = false;
				this.options.onFallback(false);
			}
			return { count, resetInMs: ttl > 0 ? ttl : this.options.windowMs };
		} catch (err) {
			this.failed(err);
			return locally();
		}
	}

	private failed(err: unknown): void {
		this.localUntil = monotonic() + (this.options.retryAfterFailureMs ?? 1000);
		if (this.local) return;
		this.local = true;
		this.options.onFallback(true, err instanceof Error ? err.message : String(err));
	}

	async close(): Promise<void> {
		this.redis.disconnect();
		await this.options.fallback.close();
	}
}
