/**
 * A route answers only its own method (CONTRACT.md, the paragraph after the error shape; issue 9,
 * item 1). For every route of the contract (ROUTES and ADMIN_ROUTES of the gateway): OPTIONS —
 * plain, a refused origin's preflight, an allowed origin's preflight — HEAD, PATCH and TRACE are
 * answered by the gateway itself and change nothing, neither the data nor the event log; an
 * allowed preflight is 204 with the CORS headers; HEAD is its GET's status and headers without a
 * body. Once on a node without CORS_ORIGINS (every preflight refused), once with it.
 */
import { ADMIN_ROUTES, ROUTES } from "../../lib/http/routes";
import { expectErrorShape } from "../helpers/expect-error";
import type { Reply } from "../helpers/http";
import { useSystem } from "../helpers/system";

const TOKEN = "methods-test-admin-token-0123456789abcdef";
const BEARER = { authorization: `Bearer ${TOKEN}` };
const ALLOWED = "https://app.example.com";
const REFUSED = "https://evil.example.net";
/** What a browser's preflight for a JSON write asks to send. */
const REQUESTED_HEADERS = "content-type, authorization, x-request-id, idempotency-key";

interface Route {
	method: string;
	/** the path under /api, with its `:id` */
	template: string;
	admin: boolean;
}

function route(key: string, admin: boolean): Route {
	const [method, path] = key.split(" ");
	return { method, template: `${admin ? "/admin" : ""}${path}`, admin };
}

const EVERY_ROUTE: Route[] = [...Object.keys(ROUTES).map((key) => route(key, false)), ...Object.keys(ADMIN_ROUTES).map((key) => route(key, true))];

/** Whether a route's template takes a path: segment by segment, a `:param` taking any one. */
function takes(template: string, path: string): boolean {
	const [want, have] = [template.split("/"), path.split("/")];
	return want.length === have.length && want.every((segment, i) => segment.startsWith(":") || segment === have[i]);
}

/**
 * The methods a path answers, from the route table itself: the methods of the routes that take
 * it (`/admin/dead-letters/retry` is POST's, and PUT's `/admin/dead-letters/:id` with the id
 * `retry`), and HEAD wherever GET is.
 */
function methodsOf(path: string): string[] {
	const methods = new Set(EVERY_ROUTE.filter((other) => takes(other.template, path)).map((other) => other.method));
	if (methods.has("GET")) methods.add("HEAD");
	return [...methods].sort();
}

const listed = (header: string | null): string[] =>
	(header ?? "")
		.split(",")
		.map((item) => item.trim())
		.filter(Boolean)
		.sort();

/** 405 in the contract's error shape, with `Allow` naming exactly the path's methods. */
function expectNotAllowed(res: Reply, allowed: string[], method: string): void {
	expectErrorShape(res, 405);
	expect(res.body).toMatchObject({ name: "MethodNotAllowedError", type: "METHOD_NOT_ALLOWED", data: { method, allow: expect.any(Array) } });
	expect(listed(res.headers.get("allow"))).toEqual(allowed);
	expect([...res.body.data.allow].sort()).toEqual(allowed);
	expect(res.headers.get("access-control-allow-origin")).toBeNull();
}

/** Headers that differ between any two answers whatever their method. */
const PER_ANSWER = new Set(["date", "x-request-id", "connection", "keep-alive"]);
const comparable = (headers: Headers) => Object.fromEntries([...headers].filter(([name]) => !PER_ANSWER.has(name)));

describe.each([
	["without CORS_ORIGINS", false],
	["with CORS_ORIGINS", true],
])("%s", (_title, cors) => {
	const sut = useSystem({ env: { ADMIN_TOKEN: TOKEN, ...(cors ? { CORS_ORIGINS: `${ALLOWED}, https://other.example.org` } : {}) } });
	const api = sut.api;
	const ids = { client: 0, goal: 0 };

	/** A path of the route table with its `:id` filled in: our client, our goal, a dead letter. */
	function concrete(template: string): string {
		return template
			.replace("/clients/:id", `/clients/${ids.client}`)
			.replace("/goals/:id", `/goals/${ids.goal}`)
			.replace("/dead-letters/:id", "/dead-letters/goals-1")
			.replace("/consumers/:consumer", "/consumers/goals");
	}

	/** Everything a stray action could change: both entities, their event logs, the lists, the dead letters. */
	async function world(): Promise<Record<string, unknown>> {
		const reads = [
			"/clients?pageSize=100",
			"/goals?pageSize=100",
			`/clients/${ids.client}`,
			`/clients/${ids.client}/events`,
			`/clients/${ids.client}/goals`,
			`/goals/${ids.goal}`,
			`/goals/${ids.goal}/events`,
		];
		const seen: Record<string, unknown> = {};
		for (const path of reads) {
			const res = await api.get(path);
			seen[path] = { status: res.status, body: res.body };
		}
		const deadLetters = await api.send("GET", "/admin/dead-letters", BEARER);
		seen.deadLetters = { status: deadLetters.status, body: deadLetters.body };
		const consumers = await api.send("GET", "/admin/consumers", BEARER);
		seen.consumers = { status: consumers.status, body: consumers.body };
		return seen;
	}

	beforeAll(async () => {
		ids.client = (await api.post("/clients", { name: "Ann", email: "ann.methods@example.com" })).body.id;
		ids.goal = (await api.post("/goals", { clientId: ids.client, goalName: "House", targetAmount: 1000 })).body.id;
		expect(ids.client).toBeGreaterThan(0);
		expect(ids.goal).toBeGreaterThan(0);
	});

	test("issue 9: OPTIONS /clients/:id with Access-Control-Request-Method: DELETE deletes nothing", async () => {
		const client = await api.post("/clients", { name: "Bea", email: "bea.methods@example.com" });
		expect(client.status).toBe(201);
		const path = `/clients/${client.body.id}`;
		for (const origin of [undefined, REFUSED, ALLOWED]) {
			const res = await api.send("OPTIONS", path, { origin, "access-control-request-method": "DELETE" });
			expect(res.status).toBe(cors && origin === ALLOWED ? 204 : 405);
		}
		expect(await api.get(path)).toMatchObject({ status: 200, body: { version: 1 } });
		expect((await api.get(`${path}/events`)).body.map((event: { eventType: string }) => event.eventType)).toEqual(["CREATED"]);
	});

	test.each(EVERY_ROUTE.map((each) => [each.method, each.template, each] as const))(
		"%s %s: OPTIONS, HEAD, PATCH and TRACE are the gateway's answers and change nothing",
		async (_method, _template, target) => {
			const path = concrete(target.template);
			const allowed = methodsOf(path);
			// the admin token, so that the answer is about the method and not about the token
			const auth = target.admin ? BEARER : {};
			const before = await world();

			expectNotAllowed(await api.send("OPTIONS", path, auth), allowed, "OPTIONS");

			const preflight = { "access-control-request-method": target.method, "access-control-request-headers": REQUESTED_HEADERS };
			expectNotAllowed(await api.send("OPTIONS", path, { origin: REFUSED, ...preflight }), allowed, "OPTIONS");

			const allowedPreflight = await api.send("OPTIONS", path, { origin: ALLOWED, ...preflight });
			if (cors) {
				expect(allowedPreflight.status).toBe(204);
				expect(allowedPreflight.text).toBe("");
				expect(allowedPreflight.headers.get("access-control-allow-origin")).toBe(ALLOWED);
				expect(listed(allowedPreflight.headers.get("access-control-allow-methods"))).toEqual(allowed);
				expect(listed(allowedPreflight.headers.get("access-control-allow-headers")).map((name) => name.toLowerCase())).toEqual([
					"authorization",
					"content-type",
					"idempotency-key",
					"x-request-id",
				]);
				expect(Number(allowedPreflight.headers.get("access-control-max-age"))).toBeGreaterThan(0);
				expect(listed(allowedPreflight.headers.get("vary"))).toContain("Origin");
				expect(allowedPreflight.headers.get("x-request-id")).toBeTruthy();
			} else {
				expectNotAllowed(allowedPreflight, allowed, "OPTIONS");
			}
			// an allowed origin asking for a method the path does not have
			expectNotAllowed(await api.send("OPTIONS", path, { origin: ALLOWED, "access-control-request-method": "PATCH" }), allowed, "OPTIONS");

			const head = await api.send("HEAD", path, auth);
			expect(head.text).toBe("");
			if (allowed.includes("GET")) {
				const get = await api.send("GET", path, auth);
				expect({ status: head.status, headers: comparable(head.headers) }).toEqual({ status: get.status, headers: comparable(get.headers) });
				expect(Number(head.headers.get("content-length"))).toBe(Buffer.byteLength(get.text));
			} else {
				expect(head.status).toBe(405);
				expect(listed(head.headers.get("allow"))).toEqual(allowed);
			}

			expectNotAllowed(await api.raw("PATCH", path, JSON.stringify({ name: "Patched" }), auth), allowed, "PATCH");
			expectNotAllowed(await api.send("TRACE", path, auth), allowed, "TRACE");

			expect(await world()).toEqual(before);
		},
	);

	test("unknown paths are 404 whatever the method, preflights included", async () => {
		for (const path of ["/nope", `/clients/${ids.client}/nope`, "/clientsx"]) {
			for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS"]) {
				expectErrorShape(await api.send(method, path), 404);
			}
			expectErrorShape(await api.send("OPTIONS", path, { origin: ALLOWED, "access-control-request-method": "GET" }), 404);
			const head = await api.send("HEAD", path);
			expect({ status: head.status, text: head.text }).toEqual({ status: 404, text: "" });
		}
	});

	test(cors ? "an allowed origin's requests carry the CORS headers; any other origin's none" : "no answer carries CORS headers", async () => {
		for (const origin of [ALLOWED, REFUSED, undefined]) {
			const got = await api.send("GET", `/clients/${ids.client}`, { origin });
			expect(got.status).toBe(200);
			const created = await api.send("POST", "/clients", { origin, "content-type": "text/plain" });
			expect(created.status).toBe(422);
			for (const res of [got, created]) {
				if (cors && origin === ALLOWED) {
					expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
					expect(listed(res.headers.get("access-control-expose-headers"))).toContain("X-Request-ID");
				} else {
					expect(res.headers.get("access-control-allow-origin")).toBeNull();
					expect(res.headers.get("access-control-expose-headers")).toBeNull();
				}
				// with CORS on, every answer depends on Origin, and a cache must know it
				if (cors) expect(listed(res.headers.get("vary"))).toContain("Origin");
				else expect(res.headers.get("vary")).toBeNull();
			}
		}
	});
});
