/**
 * The Redis cacher keeps each service's list pages in one hash (lib/infra/redis-cacher.ts): a
 * write cleans them with one DEL, never a SCAN of a Redis that other programs share. Real Redis,
 * a real ServiceBroker with cached actions; Redis's own MONITOR shows what the cacher sent.
 */
import Redis from "ioredis";
import { type Context, ServiceBroker } from "moleculer";
import { CacheEvictor } from "../../lib/infra/cache-evictor";
import { cacheKeygen, cacheKeys } from "../../lib/infra/cache-keys";
import { ListPagesRedisCacher, listHashOf, listPatternOf } from "../../lib/infra/redis-cacher";
import { describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

describe("which keys are list pages", () => {
	test("given a list page's key, when asked for its hash, then it is the service's list action", () => {
		expect(listHashOf("clients.list:page=1|pageSize=10")).toBe("clients.list");
		expect(listHashOf("goals.list:")).toBe("goals.list");
	});
	test("given any other key, when asked for its hash, then there is none", () => {
		expect(listHashOf("clients.get:id=7")).toBeNull();
		expect(listHashOf("clients.list")).toBeNull();
		expect(listHashOf("clients.listing:page=1")).toBeNull();
	});
	test("given the pattern of every page of a service's lists, then it names that hash; any other pattern names none", () => {
		expect(listPatternOf(cacheKeys.lists("clients"))).toBe("clients.list");
		expect(listPatternOf("goals.list:*")).toBe("goals.list");
		expect(listPatternOf("goals.list:page=1*")).toBeNull();
		expect(listPatternOf("*.list:**")).toBeNull();
		expect(listPatternOf("**")).toBeNull();
	});
});

describeWithInfra(["redis"], "list pages in one hash per service", () => {
	const namespace = uniqueName("lp").replace(/_/g, "-");
	const prefix = `MOL-${namespace}`;
	const redis = new Redis(INFRA_URLS.redis);
	/** another program's keys on the same server */
	const foreign = uniqueName("neighbour");
	let broker: ServiceBroker;
	let reads = 0;
	/** clients.slow waits for this before it answers, and says which ids it began reading */
	let slowGate: Promise<void> = Promise.resolve();
	const slowStarted = new Set<number>();

	beforeAll(async () => {
		const pipeline = redis.pipeline();
		for (let i = 0; i < 5000; i++) pipeline.set(`${foreign}:${i}`, "x", "EX", 300);
		await pipeline.exec();
		broker = new ServiceBroker({
			namespace,
			logger: false,
			cacher: new ListPagesRedisCacher({ ttl: 60, keygen: cacheKeygen, prefix, redis: { host: "127.0.0.1", port: 6379 } }),
		});
		broker.createService({
			name: "clients",
			actions: {
				list: {
					cache: true,
					handler(ctx: Context<{ page: number }>) {
						reads++;
						return { page: ctx.params.page, rows: [`row ${reads}`] };
					},
				},
				get: {
					cache: true,
					handler(ctx: Context<{ id: number }>) {
						reads++;
						return { id: ctx.params.id, read: reads };
					},
				},
				slow: {
					cache: true,
					async handler(ctx: Context<{ id: number }>) {
						slowStarted.add(ctx.params.id);
						await slowGate;
						reads++;
						return { id: ctx.params.id, read: reads };
					},
				},
			},
		});
		await broker.start();
		await waitFor(() => (broker.cacher as ListPagesRedisCacher).connected === true, { timeoutMs: 10_000, intervalMs: 50, what: "the cacher connected" });
	});

	afterAll(async () => {
		await broker?.stop();
		const keys = [...(await redis.keys(`${prefix}-*`)), ...(await redis.keys(`${foreign}:*`))];
		for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
		redis.disconnect();
	});

	test("a page is a field of the service's list hash, read back from it; an entity stays a key of its own", async () => {
		const first = await broker.call("clients.list", { page: 1 });
		expect(await broker.call("clients.list", { page: 1 })).toEqual(first);
		await broker.call("clients.list", { page: 2 });
		await broker.call("clients.get", { id: 7 });
		expect(await redis.hkeys(`${prefix}-clients.list`)).toEqual(expect.arrayContaining(["clients.list:page=1", "clients.list:page=2"]));
		expect(await redis.ttl(`${prefix}-clients.list`)).toBeGreaterThan(0);
		expect(await redis.exists(`${prefix}-clients.get:id=7`)).toBe(1);
		expect(await redis.keys(`${prefix}-clients.list:*`)).toEqual([]);
	});

	test("cleaning every page is one DEL with its fence (no SCAN, whatever else the server holds); the entity and the neighbour's keys stay", async () => {
		await broker.call("clients.list", { page: 1 });
		// a command after ours: once MONITOR shows it, it has shown ours
		const marker = `${prefix}-marker`;
		const seen = await commandsDuring(
			async () => {
				await broker.cacher?.clean(cacheKeys.lists("clients"));
				await redis.get(marker);
			},
			(seen) => seen.some((args) => args.includes(marker)),
		);
		const commands = seen.filter((args) => !args.includes(`${prefix}-marker`)).map((args) => args[0].toLowerCase());
		// the DEL and the new fence (sent in one MULTI: MONITOR shows its commands, not whose MULTI they were in)
		expect(commands).toEqual(["del", "set"]);
		expect(await redis.exists(`${prefix}-clients.list`)).toBe(0);
		expect(await redis.exists(`${prefix}-clients.get:id=7`)).toBe(1);
		expect(await redis.exists(`${foreign}:4999`)).toBe(1);
		// the next read misses and stores a fresh page
		const before = reads;
		await broker.call("clients.list", { page: 1 });
		expect(reads).toBe(before + 1);
	});

	/**
	 * The commands MONITOR shows for this test's keys while `work` runs, until `done` holds for
	 * them. MONITOR shows every client of the (shared) server, and ioredis enters monitoring mode
	 * a microtask after MONITOR's answer (and leaves it as it closes): other clients' lines read in
	 * between reach it outside that mode, and it says so with an 'error' ("Command queue state
	 * error") that, without a listener, fails whichever test runs. Those are let pass; any other
	 * error of the monitor fails the test. (`redis.monitor()` attaches its listener only once.)
	 */
	async function commandsDuring(work: () => Promise<void>, done: (seen: string[][]) => boolean): Promise<string[][]> {
		const monitor = redis.duplicate({ monitor: true, lazyConnect: true });
		const seen: string[][] = [];
		const errors: Error[] = [];
		let closing = false;
		let inMode = false;
		monitor.on("error", (err: Error) => {
			const outsideMode = closing || !inMode;
			if (!(outsideMode && err.message.startsWith("Command queue state error"))) errors.push(err);
		});
		monitor.on("monitor", (_time: string, args: string[]) => {
			if (args.some((arg) => arg.includes(prefix))) seen.push(args);
		});
		const monitoring = new Promise<void>((resolve) =>
			monitor.once("monitoring", () => {
				inMode = true;
				resolve();
			}),
		);
		try {
			await monitor.connect();
			await monitoring;
			await work();
			await waitFor(() => done(seen), { timeoutMs: 10_000, intervalMs: 20, what: "MONITOR to show the commands" });
		} finally {
			closing = true;
			monitor.disconnect();
		}
		expect(errors).toEqual([]);
		return seen;
	}

	test("an eviction of an entity and its service's list pages is one round trip: a MULTI deleting each and setting a new fence beside it", async () => {
		const evictor = new CacheEvictor(broker.cacher, broker.logger);
		try {
			await broker.call("clients.list", { page: 1 });
			await broker.call("clients.get", { id: 7 });
			const seen = await commandsDuring(
				() => evictor.evict(["clients.get:id=7", cacheKeys.lists("clients")]),
				(seen) => seen.some((args) => args[1] === `${prefix}-fence:clients.list`),
			);
			// (sent in one MULTI: MONITOR shows its commands, not whose MULTI they were in)
			expect(seen.map((args) => `${args[0].toLowerCase()} ${args[1]}`)).toEqual([
				`del ${prefix}-clients.get:id=7`,
				`set ${prefix}-fence:clients.get:id=7`,
				`del ${prefix}-clients.list`,
				`set ${prefix}-fence:clients.list`,
			]);
			expect(await redis.exists(`${prefix}-clients.get:id=7`, `${prefix}-clients.list`)).toBe(0);
			expect(await redis.pttl(`${prefix}-fence:clients.get:id=7`)).toBeGreaterThan(0);
		} finally {
			evictor.stop();
		}
	});

	test("a read that missed before an eviction does not store its answer after it; one that missed after it does", async () => {
		const evictor = new CacheEvictor(broker.cacher, broker.logger);
		const stored = (seen: string[][]) => seen.some((args) => args[0].toLowerCase() === "eval" || args[0].toLowerCase() === "evalsha");
		try {
			// the read misses and waits in its handler; the write's eviction comes meanwhile
			let release: () => void = () => undefined;
			slowGate = new Promise<void>((resolve) => (release = resolve));
			let answer: Promise<unknown> = Promise.resolve();
			await commandsDuring(async () => {
				answer = broker.call("clients.slow", { id: 11 });
				await waitFor(() => slowStarted.has(11), { timeoutMs: 10_000, intervalMs: 10, what: "the read to miss and run" });
				await evictor.evict(["clients.slow:id=11"]);
				release();
				await answer;
			}, stored);
			expect(await redis.exists(`${prefix}-clients.slow:id=11`)).toBe(0);

			// the next read misses after the eviction: its answer is stored
			slowGate = Promise.resolve();
			await commandsDuring(() => broker.call("clients.slow", { id: 11 }).then(() => undefined), stored);
			expect(await redis.exists(`${prefix}-clients.slow:id=11`)).toBe(1);
		} finally {
			evictor.stop();
		}
	});

	test("any other pattern is cleaned as Moleculer cleans it (every matching key, the hashes included)", async () => {
		await broker.call("clients.list", { page: 3 });
		await broker.cacher?.clean("clients.**");
		expect(await redis.keys(`${prefix}-clients*`)).toEqual([]);
		expect(await redis.exists(`${foreign}:0`)).toBe(1);
	});
});

describe("any other cacher (the one process's memory): every eviction repeated once", () => {
	let broker: ServiceBroker;
	beforeAll(async () => {
		broker = new ServiceBroker({ logger: false, cacher: "Memory" });
		await broker.start();
	});
	afterAll(() => broker.stop());

	test("a stale answer stored after the eviction (a read that began before the commit) is evicted by the repeat", async () => {
		const evictor = new CacheEvictor(broker.cacher, broker.logger);
		try {
			await evictor.evict(["clients.get:id=9"]);
			// the late read stores what it read before the commit
			await broker.cacher?.set("clients.get:id=9", { id: 9, read: -1 });
			expect(await broker.cacher?.get("clients.get:id=9")).toEqual({ id: 9, read: -1 });
			await waitFor(async () => (await broker.cacher?.get("clients.get:id=9")) == null, {
				timeoutMs: 10_000,
				intervalMs: 50,
				what: "the repeat to evict the stale answer",
			});
		} finally {
			evictor.stop();
		}
	});
});
