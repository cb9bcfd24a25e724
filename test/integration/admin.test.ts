/**
 * The admin routes (`GET /api/admin/dead-letters`, `POST /api/admin/dead-letters/:id/retry`, `POST` and `GET /api/admin/rebuild/:consumer`)
 * answer only to `Authorization: Bearer <ADMIN_TOKEN>`: everything else is a 401 in the
 * contract's error shape, and a node without ADMIN_TOKEN refuses every admin call. They are
 * reachable through those paths only, and no internal action (the test-only `faults`,
 * the consumers' `deadLetters`/`retryDeadLetter`, the producers' `eventsAfter`, `lookup`) is
 * reachable over HTTP at all.
 *
 * The token is checked first, before the request is routed or its body read, for everything
 * the admin route would take (its path prefix): without it, a huge or malformed body is a 401
 * too. Failed attempts are limited per client IP (ADMIN_FAILURES_PER_WINDOW a minute, then 429).
 */
import { ADMIN_FAILURES_PER_WINDOW, ADMIN_PATH } from "../../lib/http/admin-auth";
import { setFaults } from "../../lib/infra/fault-commands";
import { ERROR_KEYS, expectErrorShape } from "../helpers/expect-error";
import { request } from "../helpers/http";
import { type TestSystem, useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const TOKEN = "t0ken-admin-5ecret-0f-32-characters-at-least";
const BEARER = { authorization: `Bearer ${TOKEN}` };

// FAULT_INJECTION: the `faults` actions exist, so that their absence from HTTP means something.
// TRUST_PROXY=1: each call below comes from an address of its own (X-Forwarded-For), so that the
// many refusals this file makes do not add up to the failed-attempt limit, which has its own tests.
const guarded = useSystem({ env: { ADMIN_TOKEN: TOKEN, FAULT_INJECTION: "1", TRUST_PROXY: "1" } });
// the same node without ADMIN_TOKEN ("" is unset, as is whitespace)
const open = useSystem({ env: { ADMIN_TOKEN: "  ", FAULT_INJECTION: "1", TRUST_PROXY: "1" } });

let lastAddress = 0;
/** A client address used by no other call (10.0.0.0/8). */
function freshAddress(): string {
	lastAddress += 1;
	return `10.${(lastAddress >> 16) & 255}.${(lastAddress >> 8) & 255}.${lastAddress & 255}`;
}

/** Origin of a system's gateway, for paths outside `/api`. */
function origin(system: TestSystem): string {
	return system.url.replace(/\/api$/, "");
}

const ADMIN_CALLS: Array<[string, string]> = [
	["GET", "/api/admin/dead-letters"],
	["POST", "/api/admin/dead-letters/goals-1/retry"],
	["PUT", "/api/admin/dead-letters/goals-1"],
	["POST", "/api/admin/dead-letters/retry"],
	["POST", "/api/admin/dead-letters/discard"],
	["GET", "/api/admin/consumers"],
	["POST", "/api/admin/consumers/goals/pause"],
	["POST", "/api/admin/consumers/goals/resume"],
	["POST", "/api/admin/rebuild/goals"],
	["GET", "/api/admin/rebuild/goals"],
];

/** Takes useSystem's handle, not the system: that is there only once beforeAll has run. */
function call({ system }: { system: TestSystem }, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
	return request(method, origin(system) + path, body, { headers: { "x-forwarded-for": freshAddress(), ...headers } });
}

/** Paths the admin route takes: without the token they are 401 before anything else. */
const underAdmin = (path: string) => path.startsWith(ADMIN_PATH);

describe("authentication", () => {
	const sameLength = TOKEN.slice(0, -1) + (TOKEN.endsWith("t") ? "u" : "t");
	const refused: Array<[string, Record<string, string>]> = [
		["no Authorization header", {}],
		["an empty Authorization header", { authorization: "" }],
		["Bearer and nothing else", { authorization: "Bearer " }],
		["a wrong token of the same length", { authorization: `Bearer ${sameLength}` }],
		["a wrong token, shorter", { authorization: `Bearer ${TOKEN.slice(0, 4)}` }],
		["a wrong token, longer", { authorization: `Bearer ${TOKEN}x` }],
		["the token with a prefix", { authorization: `Bearer x${TOKEN}` }],
		["the token without a scheme", { authorization: TOKEN }],
		["the token in the Basic scheme", { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString("base64")}` }],
		["the token as a Basic password in clear", { authorization: `Basic ${TOKEN}` }],
		["the token in another header", { "x-admin-token": TOKEN }],
	];

	test.each(refused.flatMap(([what, headers]) => ADMIN_CALLS.map(([method, path]) => [what, method, path, headers] as const)))(
		"%s: %s %s is 401",
		async (_what, method, path, headers) => {
			expectErrorShape(await call(guarded, method, path, headers), 401);
		},
	);

	test("the token in the query string is no token", async () => {
		for (const [method, path] of ADMIN_CALLS) {
			expectErrorShape(await call(guarded, method, `${path}?token=${TOKEN}&access_token=${TOKEN}`), 401);
		}
	});

	test("the right token is let through: the list, and 404 for a dead letter that does not exist", async () => {
		const list = await call(guarded, "GET", "/api/admin/dead-letters", BEARER);
		expect(list.status).toBe(200);
		expect(list.body).toMatchObject({ rows: [], total: 0 });
		expectErrorShape(await call(guarded, "POST", "/api/admin/dead-letters/goals-1/retry", BEARER), 404);
	});

	test("without ADMIN_TOKEN every admin call is 401, whatever the header", async () => {
		const attempts: Array<Record<string, string>> = [
			{},
			{ authorization: "Bearer " },
			{ authorization: "Bearer  " },
			{ authorization: "Bearer undefined" },
			{ authorization: "Bearer null" },
			{ authorization: `Bearer ${TOKEN}` },
			{ authorization: "Basic Og==" },
		];
		for (const headers of attempts) {
			for (const [method, path] of ADMIN_CALLS) expectErrorShape(await call(open, method, path, headers), 401);
		}
		// the rest of that node works
		expect((await call(open, "GET", "/api/health")).status).toBe(200);
	});

	test("a refused call changes nothing and says nothing about the dead letters", async () => {
		const res = await call(guarded, "POST", "/api/admin/dead-letters/goals-1/retry", { authorization: `Bearer ${sameLength}` });
		expectErrorShape(res, 401);
		expect(res.text).not.toMatch(/goals-1|dead letter/i);
	});
});

describe("unknown dead letters", () => {
	test.each(["goals-999999", "nonsense", "clients-0", "goals-0", "goals-01", "goals-1.5", "goals--1", "goals-", "GOALS-1", "api-1", "goals-99999999999"])(
		"POST /api/admin/dead-letters/%s/retry is 404",
		async (id) => {
			expectErrorShape(await call(guarded, "POST", `/api/admin/dead-letters/${encodeURIComponent(id)}/retry`, BEARER), 404);
		},
	);

	// Ids that look like numbers, or are long: unknown ids all the same (contract: 404), whatever
	// the gateway makes of a path segment that looks like a number.
	test.each(["12", "-1", `goals-${"1".repeat(70)}`])("POST /api/admin/dead-letters/%s/retry is 404 too", async (id) => {
		expectErrorShape(await call(guarded, "POST", `/api/admin/dead-letters/${id}/retry`, BEARER), 404);
	});
});

describe("only the two admin routes, only under /api/admin", () => {
	const elsewhere: Array<[string, string]> = [
		["GET", "/api/api/admin/dead-letters"],
		["POST", "/api/api/admin/dead-letters/goals-1/retry"],
		["GET", "/admin/dead-letters"],
		["POST", "/admin/dead-letters/goals-1/retry"],
		["GET", "/api/dead-letters"],
		["POST", "/api/dead-letters/goals-1/retry"],
		["GET", "/api//admin/dead-letters"],
		["GET", "/api/adminx/dead-letters"],
		["GET", "/api/admin"],
		["GET", "/api/admin/"],
		["GET", "/api/admin/deadLetters"],
		["GET", "/api/admin/api.deadLetters"],
		["GET", "/api/admin/api/deadLetters"],
		["POST", "/api/admin/api.retryDeadLetter"],
		["GET", "/api/api.deadLetters"],
		["GET", "/api/api/deadLetters"],
		["POST", "/api/api.retryDeadLetter"],
		// the right paths with the wrong methods
		["POST", "/api/admin/dead-letters"],
		["PUT", "/api/admin/dead-letters"],
		["DELETE", "/api/admin/dead-letters"],
		["GET", "/api/admin/dead-letters/goals-1/retry"],
		["PUT", "/api/admin/dead-letters/goals-1/retry"],
		["GET", "/api/admin/dead-letters/goals-1"],
		["DELETE", "/api/admin/dead-letters/goals-1"],
		// the public routes are not under /api/admin
		["GET", "/api/admin/clients"],
		["GET", "/api/admin/health"],
		["GET", "/api/admin/ready"],
	];

	test.each(elsewhere)("%s %s is 404 (or 405) with the token; 401 under /api/admin where no token is configured", async (method, path) => {
		const res = await call(guarded, method, path, BEARER);
		// a path that is an admin route's with another method may say so (the contract's "404 or 405")
		expect([404, 405]).toContain(res.status);
		expectErrorShape(res, res.status);
		expectErrorShape(await call(open, method, path, BEARER), underAdmin(path) ? 401 : 404);
	});
});

describe("internal actions are not reachable over HTTP", () => {
	const internal = [
		"goals.faults",
		"clients.faults",
		"goals.deadLetters",
		"clients.deadLetters",
		"goals.retryDeadLetter",
		"clients.retryDeadLetter",
		"goals.deadLetter",
		"goals.editDeadLetter",
		"clients.discardDeadLetter",
		"goals.retryDeadLetters",
		"clients.discardDeadLetters",
		"goals.purgeDeadLetters",
		"goals.consumerPause",
		"goals.pauseConsumer",
		"clients.resumeConsumer",
		"goals.eventsAfter",
		"clients.eventsAfter",
		"goals.eventsHead",
		"clients.eventsHead",
		"goals.consumerState",
		"clients.consumerState",
		"clients.lookup",
		"goals.ofClient",
		"$node.metrics",
		"$node.actions",
	];
	// every way moleculer-web could map a path to an action name, under both routes
	const paths = internal.flatMap((action) => {
		const slashed = action.replace(".", "/");
		return ["/api", "/api/admin"].flatMap((base) => [`${base}/${action}`, `${base}/${slashed}`, `${base}/${slashed}/1`]);
	});
	const faultRules = { apply: { entities: "all", times: "always" }, crashAfterCommit: 0 };

	test.each(["GET", "POST", "PUT", "DELETE"])("%s to each of them is 404, with or without the token", async (method) => {
		const body = method === "GET" || method === "DELETE" ? undefined : { ...faultRules, id: 1, after: 0 };
		const statuses: Record<string, number[]> = {};
		for (const path of paths) {
			for (const headers of [{}, BEARER]) {
				const res = await call(guarded, method, path, headers, body);
				// `GET /api/goals/faults` is `GET /api/goals/:id` with a bad id: the public route's
				// 422, not the action; everything else has no route at all
				const collides = /^\/api\/(goals|clients)\/[^/]+$/.test(path);
				// under /api/admin, no token is a 401 before the path is looked at
				// (405 where the path is a route's with other methods: the contract's "404 or 405")
				const expected = underAdmin(path) && headers !== BEARER ? [401] : collides ? [404, 405, 422] : [404];
				if (!expected.includes(res.status)) statuses[`${method} ${path} ${JSON.stringify(headers)}`] = [res.status];
				expect(res.headers.get("content-type")).toMatch(/^application\/json/);
				expect(Object.keys(res.body).filter((key) => !ERROR_KEYS.includes(key))).toEqual([]);
			}
		}
		expect(statuses).toEqual({});
	});

	test("the faults actions were never reached: no rule was set on either service", async () => {
		// runs after the requests above (jest runs a file's tests in order)
		for (const service of ["goals", "clients"]) {
			expect(await setFaults(guarded.system.broker, service, {})).toEqual({ apply: null, crashAfterCommit: 0 });
		}
		// and the system still applies events: a rename reaches the goal service
		const created = await request("POST", `${guarded.system.url}/clients`, { name: "Ann", email: "ann.admin@example.com" });
		expect(created.status).toBe(201);
		const goal = await request("POST", `${guarded.system.url}/goals`, { clientId: created.body.id, goalName: "House", targetAmount: 1 });
		expect(goal.status).toBe(201);
		expect((await request("PUT", `${guarded.system.url}/clients/${created.body.id}`, { name: "Ann Two" })).status).toBe(200);
		// eventually consistent (the contract: within a second)
		await waitFor(async () => (await request("GET", `${guarded.system.url}/goals/${goal.body.id}`)).body.clientName === "Ann Two", {
			what: "the rename to reach the goal service",
		});
		expect((await call(guarded, "GET", "/api/admin/dead-letters", BEARER)).body).toMatchObject({ rows: [], total: 0 });
	});
});

describe("an unauthenticated request is refused before its input is looked at", () => {
	// otherwise an anonymous caller learns how the admin API checks its input (422 and its data)
	test.each([
		["a JSON array", []],
		["an id in the body", { id: "goals-1" }],
		["an unknown field", { force: true }],
	])("POST retry with %s and no token is 401", async (_what, body) => {
		expectErrorShape(await call(guarded, "POST", "/api/admin/dead-letters/goals-1/retry", {}, body), 401);
	});

	// the body is neither read nor parsed: the same requests with the token get the body parser's answer
	const RETRY = "/api/admin/dead-letters/goals-1/retry";
	const huge = JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) });

	test("a 2 MB body without the token (or with a wrong one) is 401, not 413; with the token it is 413", async () => {
		expectErrorShape(await call(guarded, "POST", RETRY, { "content-type": "application/json" }, undefined), 401);
		for (const headers of [{}, { authorization: "Bearer nope" }]) {
			const res = await request("POST", origin(guarded.system) + RETRY, undefined, { raw: huge, headers: { "x-forwarded-for": freshAddress(), ...headers } });
			expectErrorShape(res, 401);
		}
		const admitted = await request("POST", origin(guarded.system) + RETRY, undefined, { raw: huge, headers: { "x-forwarded-for": freshAddress(), ...BEARER } });
		expectErrorShape(admitted, 413);
	});

	test("malformed JSON without the token is 401, not 400; with the token it is 400", async () => {
		const malformed = '{"id": "goals-1",';
		const without = await request("POST", origin(guarded.system) + RETRY, undefined, { raw: malformed, headers: { "x-forwarded-for": freshAddress() } });
		expectErrorShape(without, 401);
		const admitted = await request("POST", origin(guarded.system) + RETRY, undefined, {
			raw: malformed,
			headers: { "x-forwarded-for": freshAddress(), ...BEARER },
		});
		expectErrorShape(admitted, 400);
	});
});

describe(`failed admin attempts: ${ADMIN_FAILURES_PER_WINDOW} a minute per client IP, then 429`, () => {
	const LIST = "/api/admin/dead-letters";
	const wrong = { authorization: `Bearer ${TOKEN.slice(0, -1)}#` };
	const from = (address: string, headers: Record<string, string> = {}) => ({ "x-forwarded-for": address, ...headers });

	test("the failures are 401s; then every admin call from that address is 429 with Retry-After, the right token included; other addresses and the public API are not affected", async () => {
		const attacker = freshAddress();
		const failures: number[] = [];
		for (let i = 0; i < ADMIN_FAILURES_PER_WINDOW; i++) failures.push((await call(guarded, "GET", LIST, from(attacker, wrong))).status);
		expect(failures).toEqual(Array.from({ length: ADMIN_FAILURES_PER_WINDOW }, () => 401));

		const locked = await call(guarded, "POST", "/api/admin/dead-letters/goals-1/retry", from(attacker, wrong));
		expectErrorShape(locked, 429);
		const retryAfter = Number(locked.headers.get("retry-after"));
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual(60);
		expect(locked.body.data).toEqual({ retryAfter });
		// the guess that hits is not told, and no token at all is no way round either
		expectErrorShape(await call(guarded, "GET", LIST, from(attacker, BEARER)), 429);
		expectErrorShape(await call(guarded, "GET", LIST, from(attacker)), 429);

		// RATE_LIMIT is unset: the public API does not care; another address with the token is let in
		expect((await call(guarded, "GET", "/api/health", from(attacker))).status).toBe(200);
		expect((await call(guarded, "GET", LIST, from(freshAddress(), BEARER))).status).toBe(200);
	});

	test("the limit is on failures: an admin with the token is never locked out by its own calls", async () => {
		const admin = freshAddress();
		const statuses: number[] = [];
		for (let i = 0; i < ADMIN_FAILURES_PER_WINDOW + 5; i++) statuses.push((await call(guarded, "GET", LIST, from(admin, BEARER))).status);
		expect(statuses).toEqual(statuses.map(() => 200));
	});

	test("without ADMIN_TOKEN nothing is counted (there is no token to guess): always 401", async () => {
		const someone = freshAddress();
		const statuses: number[] = [];
		for (let i = 0; i < ADMIN_FAILURES_PER_WINDOW + 5; i++) statuses.push((await call(open, "GET", LIST, from(someone, wrong))).status);
		expect(statuses).toEqual(statuses.map(() => 401));
	});
});
