/**
 * RATE_LIMIT at the gateway, through real HTTP: every request counts, whatever its answer; the
 * client is the address TRUST_PROXY says; with CACHER=redis://… all api replicas share one
 * limit (CONTRACT.md), and with Redis gone each replica keeps limiting on its own (fail open).
 *
 * No window is timed: the window is a minute and each test is over in a few seconds, and each
 * test counts from client addresses of its own (X-Forwarded-For with TRUST_PROXY=1), so nothing
 * it asserts depends on when the window started.
 */
import Redis from "ioredis";
import { ADMIN_FAILURES_PER_WINDOW } from "../../lib/http/admin-auth";
import { expectErrorShape } from "../helpers/expect-error";
import { type Reply, request } from "../helpers/http";
import { describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { PrivateRedis } from "../helpers/private-infra";
import { removeDir, startSystem, type TestSystem, useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const UNCACHED = { meta: { $cache: false } };
const ADMIN_TOKEN = "rate-limit-test-admin-token-0123456789";

let lastAddress = 0;
/** A client address no other request of this file used (198.18.0.0/15, for benchmarks). */
function freshAddress(): string {
	lastAddress += 1;
	return `198.18.${(lastAddress >> 8) & 255}.${lastAddress & 255}`;
}

/** A request from `address` (the gateway trusts one proxy hop in these suites). */
function from(
	address: string,
	system: TestSystem,
	method: string,
	path: string,
	init: { raw?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
	return request(method, system.url + path, undefined, { ...init, headers: { "x-forwarded-for": address, ...init.headers } });
}

function expectLimited(res: Reply): void {
	expectErrorShape(res, 429);
	const retryAfter = Number(res.headers.get("retry-after"));
	expect(retryAfter).toBeGreaterThanOrEqual(1);
	expect(retryAfter).toBeLessThanOrEqual(60);
	expect(res.body).toMatchObject({ name: "RateLimitedError", type: "RATE_LIMITED", data: { retryAfter } });
}

describe("every request counts, whatever the answer (RATE_LIMIT=6)", () => {
	const LIMIT = 6;
	const sut = useSystem({ env: { RATE_LIMIT: String(LIMIT), TRUST_PROXY: "1", ADMIN_TOKEN } });
	const json = { "content-type": "application/json" };

	// each kind alone uses up an address's budget: the next request, even a health check, is 429
	const kinds: Array<[string, number, (address: string) => Promise<Reply>]> = [
		["an unknown route", 404, (a) => from(a, sut.system, "GET", "/nope")],
		["an unknown id", 404, (a) => from(a, sut.system, "GET", "/clients/999999")],
		["a method the route does not have", 405, (a) => from(a, sut.system, "PATCH", "/clients/1", { raw: "{}", headers: json })],
		["malformed JSON", 400, (a) => from(a, sut.system, "POST", "/clients", { raw: '{"name":', headers: json })],
		["a body over 100 kB", 413, (a) => from(a, sut.system, "POST", "/clients", { raw: JSON.stringify({ name: "x".repeat(200_000) }), headers: json })],
		["invalid input", 422, (a) => from(a, sut.system, "POST", "/clients", { raw: "{}", headers: json })],
		["an admin call without the token", 401, (a) => from(a, sut.system, "GET", "/admin/dead-letters")],
	];

	test.each(kinds)("%s (%p) counts", async (_what, status, send) => {
		const address = freshAddress();
		const answers: number[] = [];
		for (let i = 0; i < LIMIT; i++) answers.push((await send(address)).status);
		// 405 is the method gate's answer; where a route answers 404 for a wrong method instead, it still counts
		expect(answers).toEqual(answers.map(() => (status === 405 ? expect.any(Number) : status)));
		expect(answers).not.toContain(429);
		expectLimited(await from(address, sut.system, "GET", "/health"));
		// and the kind itself is refused now, before its body is even read
		expectLimited(await send(address));
		// another address is not affected
		expect((await from(freshAddress(), sut.system, "GET", "/health")).status).toBe(200);
	});

	test("a refused write changes nothing; headers tell the limit and what is left", async () => {
		const address = freshAddress();
		const first = await from(address, sut.system, "GET", "/health");
		expect(first.headers.get("x-rate-limit-limit")).toBe(String(LIMIT));
		expect(first.headers.get("x-rate-limit-remaining")).toBe(String(LIMIT - 1));
		for (let i = 1; i < LIMIT; i++) await from(address, sut.system, "GET", "/health");
		const refused = await from(address, sut.system, "POST", "/clients", { raw: JSON.stringify({ name: "Late", email: "late.rl@example.com" }), headers: json });
		expectLimited(refused);
		expect(refused.headers.get("x-rate-limit-remaining")).toBe("0");
		const stored = (await sut.system.broker.call("clients.list", { pageSize: 100 }, UNCACHED)) as { rows: Array<{ email: string }> };
		expect(stored.rows.map((row) => row.email)).not.toContain("late.rl@example.com");
	});
});

describe("TRUST_PROXY: whose address is counted", () => {
	const LIMIT = 3;
	// api-only nodes: /health is all these tests need
	const noProxy = useSystem({ env: { SERVICES: "api", RATE_LIMIT: String(LIMIT) } });
	const oneHop = useSystem({ env: { SERVICES: "api", RATE_LIMIT: String(LIMIT), TRUST_PROXY: "1" } });
	const twoHops = useSystem({ env: { SERVICES: "api", RATE_LIMIT: String(LIMIT), TRUST_PROXY: "2" } });

	async function statuses(system: TestSystem, forwardedFor: string[]): Promise<number[]> {
		const out: number[] = [];
		for (const header of forwardedFor) out.push((await request("GET", `${system.url}/health`, undefined, { headers: { "x-forwarded-for": header } })).status);
		return out;
	}

	test("0 (the default): the TCP peer, whatever X-Forwarded-For says", async () => {
		expect(await statuses(noProxy.system, ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"])).toEqual([200, 200, 200, 429]);
	});

	test("1: the last entry; what a client writes to its left changes nothing", async () => {
		const proxyWrote = freshAddress();
		expect(
			await statuses(
				oneHop.system,
				["6.6.6.1", "6.6.6.2", "6.6.6.3", "6.6.6.4"].map((forged) => `${forged}, ${proxyWrote}`),
			),
		).toEqual([200, 200, 200, 429]);
		// another client behind the same proxy has a budget of its own
		expect(await statuses(oneHop.system, [`6.6.6.1, ${freshAddress()}`])).toEqual([200]);
	});

	test("2: the second entry from the right", async () => {
		const client = freshAddress();
		const outer = (inner: string) => `7.7.7.7, ${client}, ${inner}`;
		expect(await statuses(twoHops.system, [outer("10.0.0.1"), outer("10.0.0.2"), outer("10.0.0.3"), outer("10.0.0.4")])).toEqual([200, 200, 200, 429]);
		expect(await statuses(twoHops.system, [`7.7.7.7, ${freshAddress()}, 10.0.0.1`])).toEqual([200]);
	});
});

/** Counter keys of a namespace in a Redis, and their values. */
async function counterKeys(url: string, namespace: string): Promise<Map<string, number>> {
	const redis = new Redis(url, { lazyConnect: true });
	try {
		await redis.connect();
		const keys = await redis.keys(`cg-ratelimit:${namespace}:*`);
		const values = keys.length > 0 ? await redis.mget(keys) : [];
		return new Map(keys.map((key, i) => [key, Number(values[i])]));
	} finally {
		redis.disconnect();
	}
}

async function deleteCounters(url: string, namespace: string): Promise<void> {
	const keys = [...(await counterKeys(url, namespace)).keys()];
	if (keys.length === 0) return;
	const redis = new Redis(url);
	try {
		await redis.del(...keys);
	} finally {
		redis.disconnect();
	}
}

/** Two api replicas (api-only brokers) on one Redis and one namespace. */
async function twoReplicas(redisUrl: string, env: Record<string, string>): Promise<{ namespace: string; replicas: TestSystem[] }> {
	const namespace = uniqueName("rl");
	const common = { SERVICES: "api", CACHER: redisUrl, NAMESPACE: namespace, TRUST_PROXY: "1", ...env };
	const replicas = [await startSystem({ env: common }), await startSystem({ env: common })];
	return { namespace, replicas };
}

async function stopAll(replicas: TestSystem[]): Promise<void> {
	for (const replica of replicas) {
		await replica.stop();
		removeDir(replica.dataDir);
	}
}

describeWithInfra(["redis"], "two api replicas on one Redis: one limit for both", () => {
	const LIMIT = 20;
	let namespace = "";
	let replicas: TestSystem[] = [];

	beforeAll(async () => {
		({ namespace, replicas } = await twoReplicas(INFRA_URLS.redis, { RATE_LIMIT: String(LIMIT), ADMIN_TOKEN }));
		// On a loaded machine a replica's first Redis connection can miss its deadline, and it
		// counts locally until Redis answers: wait until each counts in Redis (a throwaway address each try).
		for (const replica of replicas) {
			await waitFor(
				async () => {
					const address = freshAddress();
					await from(address, replica, "GET", "/health");
					return (await counterKeys(INFRA_URLS.redis, namespace)).has(`cg-ratelimit:${namespace}:req:${address}`);
				},
				{ timeoutMs: 20_000, intervalMs: 100, what: "each api replica to count in Redis" },
			);
		}
	});

	afterAll(async () => {
		await stopAll(replicas);
		await deleteCounters(INFRA_URLS.redis, namespace);
	});

	test(`RATE_LIMIT=${LIMIT}: 30 requests at once, spread over both replicas, get exactly ${LIMIT} answers that are not 429`, async () => {
		const address = freshAddress();
		const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => from(address, replicas[i % 2], "GET", "/health")));
		const passed = answers.filter((res) => res.status !== 429);
		expect(passed).toHaveLength(LIMIT);
		expect(passed.map((res) => res.status)).toEqual(passed.map(() => 200));
		for (const res of answers.filter((r) => r.status === 429)) expectLimited(res);
		// each replica alone would have let all of its 15 through
		for (const replica of [0, 1]) {
			const own = answers.filter((_, i) => i % 2 === replica);
			expect(own.some((res) => res.status === 429)).toBe(true);
		}
		// the one count lives in Redis, with the window's expiry
		const counters = await counterKeys(INFRA_URLS.redis, namespace);
		expect(counters.get(`cg-ratelimit:${namespace}:req:${address}`)).toBe(30);
		// after the 30, still refused on both
		for (const replica of replicas) expectLimited(await from(address, replica, "GET", "/health"));
	});

	test("failed admin attempts add up across replicas too", async () => {
		const address = freshAddress();
		const wrong = { authorization: "Bearer not-the-token-not-the-token-not-the-token" };
		const statuses: number[] = [];
		for (let i = 0; i < ADMIN_FAILURES_PER_WINDOW; i++) {
			statuses.push((await from(address, replicas[i % 2], "GET", "/admin/dead-letters", { headers: wrong })).status);
		}
		expect(statuses).toEqual(statuses.map(() => 401));
		for (const replica of replicas) {
			expectLimited(await from(address, replica, "GET", "/admin/dead-letters", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
		}
	});
});

describe("Redis unreachable: each replica counts on its own, and nothing is refused for it", () => {
	const LIMIT = 5;
	const redis = new PrivateRedis();
	let replicas: TestSystem[] = [];

	beforeAll(async () => {
		await redis.start();
		({ replicas } = await twoReplicas(redis.url, { RATE_LIMIT: String(LIMIT) }));
	}, 60_000);

	afterAll(async () => {
		await stopAll(replicas);
		await redis.destroy();
	}, 60_000);

	test("Redis stopped: the limit holds per replica (fail open, counted locally); Redis back: shared again", async () => {
		const shared = freshAddress();
		expect((await from(shared, replicas[0], "GET", "/health")).status).toBe(200);
		expect((await counterKeys(redis.url, replicas[0].broker.namespace)).get(`cg-ratelimit:${replicas[0].broker.namespace}:req:${shared}`)).toBe(1);

		await redis.stop();
		const address = freshAddress();
		for (const replica of replicas) {
			const answers: number[] = [];
			for (let i = 0; i <= LIMIT; i++) answers.push((await from(address, replica, "GET", "/health")).status);
			// no 5xx, and each replica still enforces the limit by itself
			expect(answers).toEqual([...Array.from({ length: LIMIT }, () => 200), 429]);
		}

		await redis.start();
		// once Redis answers again, the count is in Redis: one window for both replicas
		const later = freshAddress();
		await waitFor(
			async () => {
				await from(later, replicas[0], "GET", "/health");
				return (await counterKeys(redis.url, replicas[0].broker.namespace)).has(`cg-ratelimit:${replicas[0].broker.namespace}:req:${later}`);
			},
			{ timeoutMs: 15_000, intervalMs: 250, what: "the counters to be in Redis again" },
		);
	}, 60_000);
});
