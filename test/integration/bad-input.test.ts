/**
 * The contract's bad-input promises, through real HTTP against the real gateway, on SQLite and on
 * PostgreSQL (the same cases against each): every request a client got wrong gets its 4xx in the
 * error shape `{ name, message, code, type, data }`, without a stack or internal detail, and
 * changes nothing: no row, no version, no event. Never a 5xx: a value the database would refuse
 * or alter (a NUL, a lone surrogate, an address longer once lower-cased, a page beyond any
 * offset) is refused before it gets there.
 *
 * "Nothing changed" is checked twice: through the REST API (which a cached answer could hide)
 * and through uncached broker calls (the rows as stored, and each event log's last sequence).
 */
import { expectErrorShape } from "../helpers/expect-error";
import { client, type Reply, request } from "../helpers/http";
import { createDatabase, describeWithInfra, dropDatabase, INFRA_URLS, uniqueName } from "../helpers/infra";
import { useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

/** The system the running cases aim at: each database's block sets it in its beforeAll. */
let active: ReturnType<typeof useSystem> | undefined;
const sut = {
	get system() {
		if (!active) throw new Error("no system: cases run inside a database's block");
		return active.system;
	},
};
const api = client(() => sut.system.url);
/** The entities every case aims at: a client with one goal, and another client to clash with. */
const seed = { clientId: 0, goalId: 0, email: "seed@example.com", otherEmail: "other@example.com" };

/** Start a system on these databases (SQLite unless env says otherwise), seed it, and register every case against it. */
function againstSystem(env: Record<string, string>): void {
	const system = useSystem({ env });
	// runs after useSystem's beforeAll, which registered first
	beforeAll(async () => {
		active = system;
		const owner = await api.post("/clients", { name: "Seed", email: seed.email });
		const other = await api.post("/clients", { name: "Other", email: seed.otherEmail });
		expect([owner.status, other.status]).toEqual([201, 201]);
		seed.clientId = owner.body.id;
		const goal = await api.post("/goals", { clientId: seed.clientId, goalName: "House", targetAmount: 1000 });
		expect(goal.status).toBe(201);
		seed.goalId = goal.body.id;
		// let the client's copy of its goals settle, so that the state compared below is stable
		await waitFor(async () => (await api.get(`/clients/${seed.clientId}`)).body.goals.length === 1, { what: "the goal copy" });
	});
	afterAll(() => {
		active = undefined;
	});
	registerCases();
}

// ---------------------------------------------------------------------------------------------
// helpers

/** 422 whose `data` lists `field` among the failing fields. */
function expectFieldError(res: Reply, field: string): void {
	expectErrorShape(res, 422);
	expect(Array.isArray(res.body.data)).toBe(true);
	expect(res.body.data.map((entry: { field: string }) => entry.field)).toContain(field);
}

function expectOutcome(res: Reply, status: number, field?: string): void {
	if (field === undefined) expectErrorShape(res, status);
	else {
		expect(status).toBe(422);
		expectFieldError(res, field);
	}
}

const UNCACHED = { meta: { $cache: false } };

/** Everything a bad request could have changed, through HTTP and around the cache. */
async function state() {
	// all at once: REST (through the cache) and the broker (around it)
	const [replies, stored] = await Promise.all([
		Promise.all([
			api.get("/clients?pageSize=100"),
			api.get("/goals?pageSize=100"),
			api.get(`/clients/${seed.clientId}`),
			api.get(`/goals/${seed.goalId}`),
			api.get(`/clients/${seed.clientId}/events`),
			api.get(`/goals/${seed.goalId}/events`),
		]),
		Promise.all([
			sut.system.broker.call("clients.list", { pageSize: 100 }, UNCACHED),
			sut.system.broker.call("goals.list", { pageSize: 100 }, UNCACHED),
			sut.system.broker.call("clients.eventsAfter", { after: 0 }),
			sut.system.broker.call("goals.eventsAfter", { after: 0 }),
		]) as Promise<[{ total: number }, { total: number }, { lastSequence: number }, { lastSequence: number }]>,
	]);
	expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200, 200, 200, 200]);
	const [clients, goals, seedClient, seedGoal, clientEvents, goalEvents] = replies.map((reply) => reply.body);
	const [storedClients, storedGoals, clientLog, goalLog] = stored;
	return {
		clientsTotal: clients.total,
		goalsTotal: goals.total,
		clientVersion: seedClient.version,
		goalVersion: seedGoal.version,
		clientEvents: clientEvents.length,
		goalEvents: goalEvents.length,
		clientLogSequence: clientLog.lastSequence,
		goalLogSequence: goalLog.lastSequence,
		rest: { clients, goals, seedClient, seedGoal },
		stored: { storedClients, storedGoals },
	};
}

/** Run a request and prove it changed nothing; returns its reply for the status checks. */
async function unchangedBy(call: () => Promise<Reply>): Promise<Reply> {
	const before = await state();
	const res = await call();
	const after = await state();
	// the headline numbers first, for a readable failure; then everything
	expect({ ...after, rest: undefined, stored: undefined }).toEqual({ ...before, rest: undefined, stored: undefined });
	expect(after).toEqual(before);
	return res;
}

const send = (method: string, path: string, body?: unknown): Promise<Reply> => request(method, sut.system.url + path, body);

let emails = 0;
const freshEmail = () => `fresh${++emails}@example.com`;

const long = (n: number) => "x".repeat(n);
/** A syntactically fine address of `n` characters. */
const emailOfLength = (n: number) => `${"a".repeat(n - "@example.com".length)}@example.com`;

/** Every case, registered once per database (below). */
function registerCases(): void {
	// ---------------------------------------------------------------------------------------------
	// the four write routes: a valid body each, which every case below spoils in exactly one way

	interface WriteRoute {
		route: string;
		method: "POST" | "PUT";
		path: () => string;
		valid: () => Record<string, unknown>;
		/** the route's name-like field, for the oversized-body cases */
		nameField: string;
	}

	const WRITE_ROUTES: WriteRoute[] = [
		{ route: "POST /clients", method: "POST", path: () => "/clients", valid: () => ({ name: "Valid", email: freshEmail() }), nameField: "name" },
		{ route: "PUT /clients/:id", method: "PUT", path: () => `/clients/${seed.clientId}`, valid: () => ({ name: "Renamed" }), nameField: "name" },
		{
			route: "POST /goals",
			method: "POST",
			path: () => "/goals",
			valid: () => ({ clientId: seed.clientId, goalName: "Valid", targetAmount: 10 }),
			nameField: "goalName",
		},
		{ route: "PUT /goals/:id", method: "PUT", path: () => `/goals/${seed.goalId}`, valid: () => ({ goalName: "Renamed" }), nameField: "goalName" },
	];

	/** Stands for the route's own name-like field (name or goalName) in a case's failing field. */
	const NAME_FIELD = "<nameField>";

	/** [label, raw body (given the route), status, failing field] */
	type RawCase = [string, (route: WriteRoute) => string, number, string?];

	const RAW_CASES: RawCase[] = [
		["malformed JSON: truncated", () => '{"name": "Ann",', 400],
		["malformed JSON: unquoted keys", () => "{name: 'Ann'}", 400],
		["malformed JSON: trailing garbage", (r) => `${JSON.stringify(r.valid())}}`, 400],
		["malformed JSON: not JSON at all", () => "name=Ann", 400],
		["a JSON string", () => '"Ann"', 422, "body"],
		["a JSON array", () => "[]", 422, "body"],
		["a JSON array holding the valid body", (r) => JSON.stringify([r.valid()]), 422, "body"],
		["JSON null", () => "null", 422, "body"],
		["a JSON number", () => "42", 422, "body"],
		["JSON true", () => "true", 422, "body"],
		["a body over 100 kB", (r) => JSON.stringify({ ...r.valid(), [r.nameField]: long(110 * 1024) }), 413],
		["a body just under 100 kB with a too-long name", (r) => JSON.stringify({ ...r.valid(), [r.nameField]: long(90 * 1024) }), 422, NAME_FIELD],
		["an unknown field", (r) => JSON.stringify({ ...r.valid(), role: "admin" }), 422, "role"],
		["an unknown field named __proto__", (r) => `{"__proto__": {"admin": true}, ${JSON.stringify(r.valid()).slice(1)}`, 422, "__proto__"],
		["an unknown field named constructor", (r) => JSON.stringify({ ...r.valid(), constructor: 1 }), 422, "constructor"],
		["two unknown fields", (r) => JSON.stringify({ ...r.valid(), a: 1, b: 2 }), 422, "b"],
		["a read-only field: version", (r) => JSON.stringify({ ...r.valid(), version: 7 }), 422, "version"],
		["a read-only field: createdAt", (r) => JSON.stringify({ ...r.valid(), createdAt: "2020-01-01T00:00:00.000Z" }), 422, "createdAt"],
		["an id in the body", (r) => JSON.stringify({ ...r.valid(), id: 1 }), 422, "id"],
	];

	describe.each(WRITE_ROUTES.map((route) => [route.route, route] as const))("%s, bad bodies", (_name, route) => {
		// a rest parameter: jest would take a fourth declared parameter for `done` when a row has three
		test.each(RAW_CASES)("%s", async (...[, body, status, field]: RawCase) => {
			const res = await unchangedBy(() => api.raw(route.method, route.path(), body(route)));
			expectOutcome(res, status, field === NAME_FIELD ? route.nameField : field);
		});

		test("malformed JSON and an oversized body get our wording, never the parser's echo of the body", async () => {
			const malformed = await unchangedBy(() => api.raw(route.method, route.path(), '{"name": "SECRET-MARKER'));
			expect(malformed.body).toEqual({ name: "BadRequestError", message: "Malformed JSON in request body", code: 400, type: "INVALID_JSON", data: null });
			const oversized = await unchangedBy(() => api.raw(route.method, route.path(), JSON.stringify({ ...route.valid(), [route.nameField]: long(200 * 1024) })));
			expect(oversized.body).toEqual({
				name: "PayloadTooLargeError",
				message: "Request body is larger than 100 kB",
				code: 413,
				type: "PAYLOAD_TOO_LARGE",
				data: null,
			});
		});

		test("the same body with an unknown query parameter", async () => {
			const res = await unchangedBy(() => send(route.method, `${route.path()}?dryRun=1`, route.valid()));
			expectFieldError(res, "dryRun");
		});
	});

	// ---------------------------------------------------------------------------------------------
	// field by field

	/** [label, body (given a valid one), status, failing field] */
	type BodyCase = [string, (valid: Record<string, unknown>) => unknown, number, string?];

	const without = (body: Record<string, unknown>, key: string) => {
		const { [key]: _dropped, ...rest } = body;
		return rest;
	};

	const NAME_CASES = (field: string): BodyCase[] => [
		[`${field}: 123`, (b) => ({ ...b, [field]: 123 }), 422, field],
		[`${field}: null`, (b) => ({ ...b, [field]: null }), 422, field],
		[`${field}: true`, (b) => ({ ...b, [field]: true }), 422, field],
		[`${field}: ["x"]`, (b) => ({ ...b, [field]: ["x"] }), 422, field],
		[`${field}: {}`, (b) => ({ ...b, [field]: {} }), 422, field],
		[`${field}: ""`, (b) => ({ ...b, [field]: "" }), 422, field],
		[`${field}: whitespace only`, (b) => ({ ...b, [field]: " \t\n " }), 422, field],
		[`${field}: 101 characters`, (b) => ({ ...b, [field]: long(101) }), 422, field],
		[`${field}: 101 characters inside spaces`, (b) => ({ ...b, [field]: ` ${long(101)} ` }), 422, field],
		// not well-formed Unicode: stored as U+FFFD by SQLite, so the answer would not be what is stored
		[`${field}: a lone high surrogate (\\ud800x)`, (b) => ({ ...b, [field]: "\ud800x" }), 422, field],
		[`${field}: a lone low surrogate (x\\udc00)`, (b) => ({ ...b, [field]: "x\udc00" }), 422, field],
		[`${field}: a surrogate pair in the wrong order`, (b) => ({ ...b, [field]: "a\udc00\ud800b" }), 422, field],
		// control characters: C0 (NUL fails in PostgreSQL), DEL, C1
		[`${field}: NUL (\\u0000)`, (b) => ({ ...b, [field]: "Ann\u0000Smith" }), 422, field],
		[`${field}: \\u0001`, (b) => ({ ...b, [field]: "Ann\u0001" }), 422, field],
		[`${field}: \\u001f`, (b) => ({ ...b, [field]: "Ann\u001fSmith" }), 422, field],
		[`${field}: a newline inside`, (b) => ({ ...b, [field]: "Ann\nSmith" }), 422, field],
		[`${field}: a carriage return inside`, (b) => ({ ...b, [field]: "Ann\rSmith" }), 422, field],
		[`${field}: a tab inside`, (b) => ({ ...b, [field]: "Ann\tSmith" }), 422, field],
		[`${field}: DEL (\\u007f)`, (b) => ({ ...b, [field]: "Ann\u007f" }), 422, field],
		[`${field}: NEXT LINE (\\u0085), which trim() keeps`, (b) => ({ ...b, [field]: "Ann\u0085" }), 422, field],
		[`${field}: \\u009f`, (b) => ({ ...b, [field]: "Ann\u009fSmith" }), 422, field],
	];

	const EMAIL_CASES: BodyCase[] = [
		["email: 123", (b) => ({ ...b, email: 123 }), 422, "email"],
		["email: null", (b) => ({ ...b, email: null }), 422, "email"],
		["email: true", (b) => ({ ...b, email: true }), 422, "email"],
		["email: [address]", (b) => ({ ...b, email: ["x@example.com"] }), 422, "email"],
		['email: ""', (b) => ({ ...b, email: "" }), 422, "email"],
		["email: whitespace only", (b) => ({ ...b, email: "   " }), 422, "email"],
		["email: no @", (b) => ({ ...b, email: "not-an-email" }), 422, "email"],
		["email: nothing after @", (b) => ({ ...b, email: "ann@" }), 422, "email"],
		["email: nothing before @", (b) => ({ ...b, email: "@example.com" }), 422, "email"],
		["email: no dot in the domain", (b) => ({ ...b, email: "ann@example" }), 422, "email"],
		["email: a space inside", (b) => ({ ...b, email: "ann smith@example.com" }), 422, "email"],
		["email: two @", (b) => ({ ...b, email: "ann@@example.com" }), 422, "email"],
		["email: two @ apart", (b) => ({ ...b, email: "ann@x@example.com" }), 422, "email"],
		["email: 255 characters", (b) => ({ ...b, email: emailOfLength(255) }), 422, "email"],
		["email: 300 characters", (b) => ({ ...b, email: emailOfLength(300) }), 422, "email"],
		// 254 characters, 255 once lower-cased ("İ" becomes "i" and a combining dot): the unique key column holds 254
		["email: 254 characters, longer once lower-cased", (b) => ({ ...b, email: `İ${emailOfLength(253)}` }), 422, "email"],
		["email: 212 characters, 412 once lower-cased", (b) => ({ ...b, email: `${"İ".repeat(200)}@example.com` }), 422, "email"],
		["email: a lone surrogate", (b) => ({ ...b, email: "ann\ud800@example.com" }), 422, "email"],
		["email: NUL (\\u0000)", (b) => ({ ...b, email: "ann\u0000@example.com" }), 422, "email"],
		["email: \\u0001", (b) => ({ ...b, email: "ann\u0001@example.com" }), 422, "email"],
		["email: NEXT LINE (\\u0085)", (b) => ({ ...b, email: "ann\u0085@example.com" }), 422, "email"],
		["email: a trailing newline", (b) => ({ ...b, email: "ann@example.com\n" }), 422, "email"],
		["email: a TLD of xn-- alone", (b) => ({ ...b, email: "ann@example.xn--" }), 422, "email"],
		["email: a punycode TLD ending in a hyphen", (b) => ({ ...b, email: "ann@example.xn--p1ai-" }), 422, "email"],
		["email: a TLD with a digit, not punycode", (b) => ({ ...b, email: "ann@example.c0m" }), 422, "email"],
		["email: taken (case-insensitively)", (b) => ({ ...b, email: seed.otherEmail.toUpperCase() }), 409],
	];

	const AMOUNT_CASES: BodyCase[] = [
		['targetAmount: "100"', (b) => ({ ...b, targetAmount: "100" }), 422, "targetAmount"],
		['targetAmount: "10.50"', (b) => ({ ...b, targetAmount: "10.50" }), 422, "targetAmount"],
		["targetAmount: null", (b) => ({ ...b, targetAmount: null }), 422, "targetAmount"],
		["targetAmount: true", (b) => ({ ...b, targetAmount: true }), 422, "targetAmount"],
		["targetAmount: [10]", (b) => ({ ...b, targetAmount: [10] }), 422, "targetAmount"],
		["targetAmount: {}", (b) => ({ ...b, targetAmount: {} }), 422, "targetAmount"],
		["targetAmount: 0", (b) => ({ ...b, targetAmount: 0 }), 422, "targetAmount"],
		["targetAmount: -1", (b) => ({ ...b, targetAmount: -1 }), 422, "targetAmount"],
		["targetAmount: -0.01", (b) => ({ ...b, targetAmount: -0.01 }), 422, "targetAmount"],
		["targetAmount: 1e12 + 0.01", (b) => ({ ...b, targetAmount: 1_000_000_000_000.01 }), 422, "targetAmount"],
		["targetAmount: 1e12 + 1", (b) => ({ ...b, targetAmount: 1_000_000_000_001 }), 422, "targetAmount"],
		["targetAmount: 1e13", (b) => ({ ...b, targetAmount: 1e13 }), 422, "targetAmount"],
		["targetAmount: 1e300", (b) => ({ ...b, targetAmount: 1e300 }), 422, "targetAmount"],
		["targetAmount: 10.001", (b) => ({ ...b, targetAmount: 10.001 }), 422, "targetAmount"],
		["targetAmount: 0.001", (b) => ({ ...b, targetAmount: 0.001 }), 422, "targetAmount"],
		["targetAmount: 0.005", (b) => ({ ...b, targetAmount: 0.005 }), 422, "targetAmount"],
		["targetAmount: 123.456", (b) => ({ ...b, targetAmount: 123.456 }), 422, "targetAmount"],
		["targetAmount: 1e-7", (b) => ({ ...b, targetAmount: 1e-7 }), 422, "targetAmount"],
	];

	const CLIENT_ID_CASES: BodyCase[] = [
		['clientId: "abc"', (b) => ({ ...b, clientId: "abc" }), 422, "clientId"],
		["clientId: the id as a string", (b) => ({ ...b, clientId: String(seed.clientId) }), 422, "clientId"],
		["clientId: true", (b) => ({ ...b, clientId: true }), 422, "clientId"],
		["clientId: [id]", (b) => ({ ...b, clientId: [seed.clientId] }), 422, "clientId"],
		["clientId: null", (b) => ({ ...b, clientId: null }), 422, "clientId"],
		["clientId: {}", (b) => ({ ...b, clientId: {} }), 422, "clientId"],
		["clientId: 0", (b) => ({ ...b, clientId: 0 }), 422, "clientId"],
		["clientId: -1", (b) => ({ ...b, clientId: -1 }), 422, "clientId"],
		["clientId: 1.5", (b) => ({ ...b, clientId: 1.5 }), 422, "clientId"],
		["clientId: beyond a 32-bit id", (b) => ({ ...b, clientId: 2_147_483_648 }), 422, "clientId"],
		["clientId: absent client", (b) => ({ ...b, clientId: 999_999 }), 422, "clientId"],
	];

	/** [route, body cases]: the route's own valid body is what each case spoils. */
	const FIELD_CASES: [WriteRoute, BodyCase[]][] = [
		[
			WRITE_ROUTES[0],
			[
				["name missing", (b) => without(b, "name"), 422, "name"],
				["email missing", (b) => without(b, "email"), 422, "email"],
				["empty object", () => ({}), 422, "name"],
				...NAME_CASES("name"),
				...EMAIL_CASES,
			],
		],
		[
			WRITE_ROUTES[1],
			[
				["empty object (at least one field)", () => ({}), 422, "name"],
				["only an unknown field", () => ({ nickname: "Al" }), 422, "nickname"],
				["a valid name with a bad email", (b) => ({ ...b, email: "nope" }), 422, "email"],
				...NAME_CASES("name"),
				...EMAIL_CASES.map(([label, body, status, field]): BodyCase => [label, (b) => without(body(b) as Record<string, unknown>, "name"), status, field]),
			],
		],
		[
			WRITE_ROUTES[2],
			[
				["clientId missing", (b) => without(b, "clientId"), 422, "clientId"],
				["goalName missing", (b) => without(b, "goalName"), 422, "goalName"],
				["targetAmount missing", (b) => without(b, "targetAmount"), 422, "targetAmount"],
				["empty object", () => ({}), 422, "clientId"],
				["clientName (read-only)", (b) => ({ ...b, clientName: "Mallory" }), 422, "clientName"],
				...CLIENT_ID_CASES,
				...NAME_CASES("goalName"),
				...AMOUNT_CASES,
			],
		],
		[
			WRITE_ROUTES[3],
			[
				["empty object (at least one field)", () => ({}), 422, "goalName"],
				["only an unknown field", () => ({ note: "x" }), 422, "note"],
				["clientId: the same client (cannot change)", (b) => ({ ...b, clientId: seed.clientId }), 422, "clientId"],
				["clientId: another client (cannot change)", (b) => ({ ...b, clientId: seed.clientId + 1 }), 422, "clientId"],
				["clientName (read-only)", (b) => ({ ...b, clientName: "Mallory" }), 422, "clientName"],
				["a valid goalName with a bad amount", (b) => ({ ...b, targetAmount: 10.001 }), 422, "targetAmount"],
				...NAME_CASES("goalName"),
				...AMOUNT_CASES.map(([label, body, status, field]): BodyCase => [label, (b) => without(body(b) as Record<string, unknown>, "goalName"), status, field]),
			],
		],
	];

	describe.each(FIELD_CASES.map(([route, cases]) => [route.route, route, cases] as const))("%s, bad fields", (_name, route, cases) => {
		test.each(cases)("%s", async (...[, body, status, field]: BodyCase) => {
			const res = await unchangedBy(() => send(route.method, route.path(), body(route.valid())));
			expectOutcome(res, status, field);
		});
	});

	describe.each([
		["PUT /clients/:id", () => `/clients/${seed.clientId}`, ["name", "email"]],
		["PUT /goals/:id", () => `/goals/${seed.goalId}`, ["goalName", "targetAmount"]],
	] as const)("%s without a body", (_name, path, fields) => {
		test.each([
			["an empty body sent as JSON", "application/json"],
			["an empty body without a JSON content type", "text/plain"],
		])("%s is a 422 naming the fields of which one is required", async (_label, contentType) => {
			const res = await unchangedBy(() => api.raw("PUT", path(), "", { "content-type": contentType }));
			expectFieldError(res, fields[0]);
			expectFieldError(res, fields[1]);
		});
	});

	// ---------------------------------------------------------------------------------------------
	// ids in the path

	const ID_ROUTES: [string, string, (id: string) => string, unknown?][] = [
		["GET", "/clients/:id", (id) => `/clients/${id}`],
		["PUT", "/clients/:id", (id) => `/clients/${id}`, { name: "Renamed" }],
		["DELETE", "/clients/:id", (id) => `/clients/${id}`],
		["GET", "/clients/:id/goals", (id) => `/clients/${id}/goals`],
		["GET", "/clients/:id/events", (id) => `/clients/${id}/events`],
		["GET", "/goals/:id", (id) => `/goals/${id}`],
		["PUT", "/goals/:id", (id) => `/goals/${id}`, { goalName: "Renamed" }],
		["DELETE", "/goals/:id", (id) => `/goals/${id}`],
		["GET", "/goals/:id/events", (id) => `/goals/${id}/events`],
	];

	const BAD_IDS = ["abc", "0", "-1", "1.5", "1a", "%20", "2147483648", "99999999999999999999"];

	describe.each(ID_ROUTES)("%s %s", (method, route, path, body) => {
		test.each(BAD_IDS)("id %s is a 422 naming id", async (id) => {
			const res = await unchangedBy(() => send(method, path(id), body));
			expectFieldError(res, "id");
		});

		test("an absent id is a 404", async () => {
			const res = await unchangedBy(() => send(method, path("999999"), body));
			expectErrorShape(res, 404);
		});

		test("an unknown query parameter is a 422 naming it, even when the answer is cached", async () => {
			const seedPath = path(String(route.startsWith("/clients") ? seed.clientId : seed.goalId));
			if (method === "GET") expect((await api.get(seedPath)).status).toBe(200); // warm the cache
			const res = await unchangedBy(() => send(method, `${seedPath}?force=true`, body));
			expectFieldError(res, "force");
		});
	});

	// ---------------------------------------------------------------------------------------------
	// paging and query parameters of the lists

	const PAGING_CASES: [string, string][] = [
		["page=0", "page"],
		["page=-1", "page"],
		["page=1.5", "page"],
		["page=abc", "page"],
		["page=", "page"],
		["page=1&page=2", "page"],
		["page=1000001", "page"],
		// an offset beyond what SQLite and PostgreSQL take: a 500 from the database before the cap
		["page=100000000000000000", "page"],
		["page=99999999999999999999&pageSize=100", "page"],
		["pageSize=0", "pageSize"],
		["pageSize=-10", "pageSize"],
		["pageSize=2.5", "pageSize"],
		["pageSize=ten", "pageSize"],
		["pageSize=", "pageSize"],
		["pageSize=101", "pageSize"],
		["pageSize=1000", "pageSize"],
		["page=1&pageSize=101", "pageSize"],
		["foo=1", "foo"],
		["pageSize=100&foo=1", "foo"],
		["page=1&pageSize=10&sort=id", "sort"],
	];

	describe.each(["/clients", "/goals"])("GET %s", (list) => {
		test.each(PAGING_CASES)("?%s is a 422 naming %s, even when the valid part is cached", async (query, field) => {
			// the answers without the bad part are cached (state() asks for ?pageSize=100 too)
			expect((await api.get(list)).status).toBe(200);
			expect((await api.get(`${list}?page=1&pageSize=10`)).status).toBe(200);
			const res = await unchangedBy(() => api.get(`${list}?${query}`));
			expectFieldError(res, field);
		});
	});

	test.each([
		["clientId=abc", "clientId"],
		["clientId=0", "clientId"],
		["clientId=1.5", "clientId"],
		["clientId=", "clientId"],
		["clientId=1&clientId=2", "clientId"],
	])("GET /goals?%s is a 422 naming %s", async (query, field) => {
		const res = await unchangedBy(() => api.get(`/goals?${query}`));
		expectFieldError(res, field);
	});

	const HISTORY_CASES: [string, string][] = [
		["afterVersion=-1", "afterVersion"],
		["afterVersion=1.5", "afterVersion"],
		["afterVersion=abc", "afterVersion"],
		["afterVersion=", "afterVersion"],
		["afterVersion=2147483648", "afterVersion"],
		["afterVersion=100000000000000000", "afterVersion"],
		["limit=0", "limit"],
		["limit=1001", "limit"],
		["limit=-5", "limit"],
		["limit=ten", "limit"],
		["afterVersion=0&limit=100000000000000000", "limit"],
		["after=1", "after"],
	];

	describe.each([
		["/clients/:id/events", () => `/clients/${seed.clientId}/events`],
		["/goals/:id/events", () => `/goals/${seed.goalId}/events`],
	])("GET %s", (_route, path) => {
		test.each(HISTORY_CASES)("?%s is a 422 naming %s", async (query, field) => {
			const res = await unchangedBy(() => api.get(`${path()}?${query}`));
			expectFieldError(res, field);
		});
	});

	// ---------------------------------------------------------------------------------------------
	// the edges that are valid: accepted, and what the answer shows is exactly what is stored

	describe("valid edge values", () => {
		const stored = async (id: number) => ({
			client: await sut.system.broker.call("clients.get", { id }, UNCACHED),
			events: await sut.system.broker.call("clients.history", { id }),
		});

		test.each([
			["an internationalised top-level domain in punycode", "Ann", "ann@example.xn--p1ai"],
			["punycode in capitals", "Ann", "Ann.Capitals@Example.XN--P1AI"],
			["an address of exactly 254 characters", "Ann", emailOfLength(254).replace(/^a/, "b")],
			["non-ASCII letters and an astral character (a well-formed surrogate pair)", "Zoë 😀 Ünal", "zoe.unal@example.com"],
			["a name of 50 astral characters (100 UTF-16 units, the most a name may have)", "😀".repeat(50), "emoji@example.com"],
		])("POST /clients with %s is a 201, stored as answered", async (_label, name, email) => {
			const res = await send("POST", "/clients", { name, email });
			expect(res.status).toBe(201);
			expect({ name: res.body.name, email: res.body.email }).toEqual({ name, email });
			const { client, events } = await stored(res.body.id);
			expect(client).toEqual(res.body);
			expect(events).toEqual([expect.objectContaining({ clientName: name, clientEmail: email, version: 1 })]);
		});

		test("PUT /clients/:id to an address with a punycode TLD is a 200, stored as answered", async () => {
			const created = await send("POST", "/clients", { name: "Ivan", email: freshEmail() });
			expect(created.status).toBe(201);
			const res = await send("PUT", `/clients/${created.body.id}`, { email: "ivan@xn--e1afmkfd.xn--p1ai" });
			expect(res.status).toBe(200);
			expect(res.body.email).toBe("ivan@xn--e1afmkfd.xn--p1ai");
			expect((await stored(created.body.id)).client).toEqual(res.body);
		});

		test("a goal named with non-ASCII and astral characters is a 201, stored as answered", async () => {
			const res = await send("POST", "/goals", { clientId: seed.clientId, goalName: "Épargne 🏠", targetAmount: 10 });
			expect(res.status).toBe(201);
			expect(res.body.goalName).toBe("Épargne 🏠");
			expect(await sut.system.broker.call("goals.get", { id: res.body.id }, UNCACHED)).toEqual(res.body);
		});

		test.each(["/clients", "/goals"])("GET %s?page=1000000&pageSize=100, the last page allowed, is a 200 with no rows", async (list) => {
			const res = await api.get(`${list}?page=1000000&pageSize=100`);
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({ rows: [], page: 1_000_000, pageSize: 100 });
		});
	});

	// ---------------------------------------------------------------------------------------------
	// a control: the valid bodies the cases above spoil do succeed, so each case failed for its one flaw

	test.each(WRITE_ROUTES.map((route) => [route.route, route] as const))("control: %s with its valid body succeeds", async (_name, route) => {
		const res = await send(route.method, route.path(), route.valid());
		expect(res.status).toBe(route.method === "POST" ? 201 : 200);
	});
}

// ---------------------------------------------------------------------------------------------
// RATE_LIMIT

describe("RATE_LIMIT=5", () => {
	const limited = useSystem({ env: { RATE_LIMIT: "5" } });

	test("five requests pass, the sixth is a 429 in the error shape and changes nothing", async () => {
		const http = limited.api;
		const passed = [];
		for (let i = 0; i < 5; i++) passed.push((await http.get("/health")).status);
		expect(passed).toEqual([200, 200, 200, 200, 200]);

		const sixth = await http.post("/clients", { name: "Late", email: "late@example.com" });
		expectErrorShape(sixth, 429);
		expectErrorShape(await http.get("/health"), 429);

		const stored = (await limited.system.broker.call("clients.list", {}, UNCACHED)) as { total: number };
		const log = (await limited.system.broker.call("clients.eventsAfter", { after: 0 })) as { lastSequence: number };
		expect({ total: stored.total, lastSequence: log.lastSequence }).toEqual({ total: 0, lastSequence: 0 });
	});
});

// ---------------------------------------------------------------------------------------------
// the databases

describe("on SQLite", () => {
	againstSystem({});
});

describeWithInfra(["postgres"], "on PostgreSQL", () => {
	const databases = [uniqueName("bad_input_clients"), uniqueName("bad_input_goals")];
	beforeAll(async () => {
		await Promise.all(databases.map((name) => createDatabase(name)));
	});
	againstSystem({
		CLIENTS_DB_URI: `${INFRA_URLS.postgres}/${databases[0]}`,
		GOALS_DB_URI: `${INFRA_URLS.postgres}/${databases[1]}`,
	});
	// after the system's own afterAll (jest runs a block's afterAll hooks in the order declared)
	afterAll(async () => {
		await Promise.all(databases.map((name) => dropDatabase(name)));
	});
});
