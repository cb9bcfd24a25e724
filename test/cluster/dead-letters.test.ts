/**
 * Dead letters as a queryable store (issue 21, part 1; CONTRACT.md, "Operating consumers"), with
 * real processes over RabbitMQ, Redis and PostgreSQL: 30 events dead-lettered across both
 * consumers and three causes (an injected fault, a field its schema refuses, an event name that
 * does not match its type), then
 *
 * - every filter (consumer, event type, entity id, error text, first-failure time window, state,
 *   and combinations) returns exactly its letters;
 * - an edit with a bad field is 422 naming it and changes nothing; a good edit, replayed, is applied
 *   (the copy shows the edited value) and its letter shows the original and the edit, by the admin
 *   token's id;
 * - a bulk retry by filter replays exactly those letters; a bulk discard, then a purge as of a
 *   later time (the clock injected), removes them once DEAD_LETTER_RETENTION_DAYS are over;
 * - every admin route refuses a missing or wrong token (401);
 * - the same through the REPL: the in-process commands on a node joined to the cluster (as the
 *   REPL runs them), and one typed into a real node's REPL.
 */
import { randomUUID } from "node:crypto";
import { CONSUMERS } from "../../lib/constants";
import { replCommands } from "../../lib/consumer/repl-commands";
import { adminTokenId } from "../../lib/http/admin-auth";
import { ADMIN_ROUTES } from "../../lib/http/routes";
import { Cluster } from "../helpers/cluster";
import { client, request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { type NodeProcess, replFaults, replRun } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(300_000);

const TOKEN = "dead-letters-admin-token-0123456789abcdef";
const BEARER = { authorization: `Bearer ${TOKEN}` };
const DAY = 86_400_000;

type Cause = "injected" | "space" | "name";
interface Letter {
	id: string;
	consumer: string;
	event: Record<string, unknown>;
	lastError: string;
	failedAt: string;
	state: string;
	original?: Record<string, unknown>;
	edited?: { at: string; by: string };
}
/** What the test made dead-letter, and when: each letter is found by these. */
interface Expected {
	consumer: "goals" | "clients";
	eventType: string;
	entityId: number;
	version: number;
	cause: Cause;
	phase: number;
}

const causeOf = (error: string): Cause | "?" =>
	/Injected fault/.test(error) ? "injected" : /white space/.test(error) ? "space" : /eventType it names/.test(error) ? "name" : "?";
const entityOf = (letter: Letter) => Number(letter.consumer === "goals" ? letter.event.clientId : letter.event.goalId);
const signature = (one: Expected) => `${one.consumer} ${one.eventType} ${one.entityId} v${one.version} ${one.cause}`;
const signatureOf = (letter: Letter) =>
	`${letter.consumer} ${letter.event.eventType} ${entityOf(letter)} v${letter.event.version} ${causeOf(letter.lastError)}`;

describeWithInfra(["rabbitmq", "redis", "postgres"], "dead letters filtered, edited, retried and discarded in bulk, purged", () => {
	const cluster = new Cluster({ CONSUMER_PAUSE_AFTER: "0", ADMIN_TOKEN: TOKEN });
	let base = "";
	let api: ReturnType<typeof client>;
	let goalsNode: NodeProcess;
	let clientsNode: NodeProcess;
	const expected: Expected[] = [];
	/** the phases' boundaries, ISO: phase n's letters first failed in [marks[n-1], marks[n]) */
	const marks: string[] = [];

	const admin = (method: string, path: string, body?: unknown, headers: Record<string, string> = BEARER) =>
		request(method, `${base}/admin${path}`, body, { headers });
	const list = async (query: Record<string, string | number>): Promise<{ rows: Letter[]; total: number }> => {
		const res = await admin(
			"GET",
			`/dead-letters?${new URLSearchParams({ pageSize: "100", ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])) })}`,
		);
		expect(res.status).toBe(200);
		return res.body;
	};
	/** Wait for `count` letters the query selects; a timeout says how many there were, with the nodes' logs as they are then. */
	const waitForLetters = async (query: Record<string, string | number>, count: number, what: string) => {
		try {
			await waitFor(async () => ((await list(query)).total === count ? true : null), { timeoutMs: 60_000, intervalMs: 250, what });
		} catch (err) {
			throw new Error(`${(err as Error).message} (${(await list(query)).total} found)\n${cluster.logs()}`);
		}
	};
	/**
	 * Wait until a consumer has applied all its producer's log (lag 0): no catch-up reads an event
	 * again once a fault is set (an injected fault fails an event even where it would be stale).
	 */
	const caughtUp = (consumer: "goals" | "clients") =>
		waitFor(async () => (await api.get("/ready")).body.components.consumers[consumer].lag === 0, { timeoutMs: 20_000, what: `${consumer}'s lag 0` });
	const mark = () => {
		marks.push(new Date().toISOString());
	};
	const copyName = async (clientId: number) =>
		(await cluster.query<{ name: string }>("goals", `SELECT name FROM client_projection WHERE "clientId" = ${clientId}`))[0]?.name;
	const clientEvent = (clientId: number, clientName: string) => ({
		eventId: randomUUID(),
		eventType: "UPDATED",
		source: "clients",
		timestamp: new Date().toISOString(),
		sequence: 1000 + clientId,
		version: 2,
		clientId,
		clientName,
		clientEmail: `c${clientId}-${cluster.namespace}@example.com`,
	});

	/** Run a REPL command as the REPL does, on the probe (a node of the cluster), and what it printed. */
	async function repl(name: "dlq" | "consumer", args: Record<string, unknown>): Promise<string[]> {
		const command = replCommands.find((candidate) => candidate.command.startsWith(`${name} `));
		if (!command) throw new Error(`no ${name} command`);
		const printed: string[] = [];
		// console is the REPL's output, not the system under test
		const spy = jest.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
			printed.push(parts.map(String).join(" "));
		});
		try {
			await command.action(cluster.probe, args as unknown as string[], {});
		} finally {
			spy.mockRestore();
		}
		return printed;
	}

	beforeAll(async () => {
		await cluster.setUp();
		clientsNode = await cluster.start("clients-1", "clients", { FAULT_INJECTION: "1" }, { repl: true });
		goalsNode = await cluster.start("goals-1", "goals", { FAULT_INJECTION: "1" }, { repl: true });
		// TRUST_PROXY: each refused call of the last test comes from an address of its own (X-Forwarded-For),
		// so that they do not add up to the failed-attempt limit (429), which has tests of its own
		base = await cluster.startApi("api-1", { TRUST_PROXY: "1" });
		api = client(base);
		for (let i = 1; i <= 10; i++)
			expect((await api.post("/clients", { name: `Client ${i}`, email: `c${i}-${cluster.namespace}@example.com` })).status).toBe(201);
		// goals 1..5, of clients 6..10
		for (let i = 6; i <= 10; i++) expect((await api.post("/goals", { clientId: i, goalName: `Goal of ${i}`, targetAmount: i })).status).toBe(201);
		await waitFor(async () => (await copyName(10)) === "Client 10", { timeoutMs: 20_000, what: "the goal service's copy of the clients" });
		await waitFor(async () => (await api.get("/clients/10")).body.goals.length === 1, { timeoutMs: 20_000, what: "the client service's copy of the goals" });

		await caughtUp("goals");
		await caughtUp("clients");

		// phase 1, goals: clients 1..5 renamed twice, each rename failing (an injected fault)
		mark();
		await replFaults(goalsNode, "goals", "apply:1,2,3,4,5:always");
		for (let i = 1; i <= 5; i++) {
			for (const version of [2, 3]) {
				expect((await api.put(`/clients/${i}`, { name: `Client ${i} v${version}` })).status).toBe(200);
				expected.push({ consumer: "goals", eventType: "UPDATED", entityId: i, version, cause: "injected", phase: 1 });
			}
		}
		await waitForLetters({ consumer: "goals" }, 10, "phase 1's ten dead letters");
		mark();

		// phase 2, goals: five events whose client name has white space around it (refused by its schema)
		for (let i = 6; i <= 10; i++) {
			await cluster.probe.emit("client.updated", clientEvent(i, ` Name ${i} `), { groups: ["goals"] });
			expected.push({ consumer: "goals", eventType: "UPDATED", entityId: i, version: 2, cause: "space", phase: 2 });
		}
		await waitForLetters({ consumer: "goals" }, 15, "phase 2's five dead letters");
		mark();

		// phase 3, clients: goals 1..5 changed, then deleted, each event failing (an injected fault)
		await replFaults(clientsNode, "clients", "apply:1,2,3,4,5:always");
		for (let goal = 1; goal <= 5; goal++) {
			expect((await api.put(`/goals/${goal}`, { targetAmount: 100 + goal })).status).toBe(200);
			expect((await api.del(`/goals/${goal}`)).status).toBe(204);
			expected.push({ consumer: "clients", eventType: "UPDATED", entityId: goal, version: 2, cause: "injected", phase: 3 });
			expected.push({ consumer: "clients", eventType: "DELETED", entityId: goal, version: 3, cause: "injected", phase: 3 });
		}
		await waitForLetters({ consumer: "clients" }, 10, "phase 3's ten dead letters");
		mark();

		// phase 4, clients: five goal.created events whose eventType says UPDATED (refused)
		for (let goal = 6; goal <= 10; goal++) {
			const event = {
				eventId: randomUUID(),
				eventType: "UPDATED",
				source: "goals",
				timestamp: new Date().toISOString(),
				sequence: 2000 + goal,
				version: 1,
				goalId: goal,
				clientId: 1,
				goalName: `Forged ${goal}`,
				targetAmount: 1,
			};
			await cluster.probe.emit("goal.created", event, { groups: ["clients"] });
			expected.push({ consumer: "clients", eventType: "UPDATED", entityId: goal, version: 1, cause: "name", phase: 4 });
		}
		await waitForLetters({ consumer: "clients" }, 15, "phase 4's five dead letters");
		mark();
	});
	afterAll(() => cluster.tearDown());

	/** The expected letters a filter selects, as the API's filter reads it. */
	function selected(filter: Record<string, string | number>): string[] {
		const causeText: Record<Cause, string> = {
			injected: "InjectedFaultError: Injected fault for entity",
			space: "must not start or end with white space",
			name: "must carry the eventType it names",
		};
		return expected
			.filter((one) => filter.consumer === undefined || one.consumer === filter.consumer)
			.filter((one) => filter.eventType === undefined || one.eventType === filter.eventType)
			.filter((one) => filter.entityId === undefined || one.entityId === Number(filter.entityId))
			.filter((one) => filter.error === undefined || `${causeText[one.cause]} ${one.entityId}`.includes(String(filter.error)))
			.filter((one) => filter.from === undefined || one.phase > marks.indexOf(String(filter.from)))
			.filter((one) => filter.to === undefined || one.phase <= marks.indexOf(String(filter.to)))
			.map(signature)
			.sort();
	}

	test("30 dead letters across both consumers and three causes; every filter returns exactly its letters", async () => {
		const all = await list({});
		expect(all.total).toBe(30);
		expect(all.rows.map(signatureOf).sort()).toEqual(expected.map(signature).sort());
		// goals' first, then clients', each by id
		expect(all.rows.map((letter) => letter.consumer)).toEqual([...Array(15).fill("goals"), ...Array(15).fill("clients")]);
		expect(all.rows.every((letter) => letter.state === "dead")).toBe(true);
		const filters: Array<Record<string, string | number>> = [
			{ consumer: "goals" },
			{ consumer: "clients" },
			{ eventType: "UPDATED" },
			{ eventType: "DELETED" },
			{ eventType: "CREATED" },
			{ entityId: 3 },
			{ entityId: 7 },
			{ entityId: 11 },
			{ error: "Injected fault" },
			{ error: "white space" },
			{ error: "eventType it names" },
			{ error: "Injected fault for entity 4" },
			{ error: "injected fault" },
			{ from: marks[1], to: marks[3] },
			{ from: marks[3] },
			{ to: marks[0] },
			{ consumer: "clients", eventType: "DELETED", error: "Injected" },
			{ consumer: "goals", entityId: 2, from: marks[0], to: marks[1] },
			{ consumer: "clients", eventType: "UPDATED", from: marks[2] },
		];
		for (const filter of filters) {
			const found = await list(filter);
			const want = selected(filter);
			expect({ filter, found: found.rows.map(signatureOf).sort(), total: found.total }).toEqual({ filter, found: want, total: want.length });
		}
		expect(selected({ consumer: "clients", eventType: "DELETED", error: "Injected" })).toHaveLength(5);
		expect(selected({ from: marks[1], to: marks[3] })).toHaveLength(15);
		// paged like any list: the third page of seven
		const page = await admin("GET", "/dead-letters?page=3&pageSize=7");
		expect(page.body).toMatchObject({ total: 30, page: 3, pageSize: 7, totalPages: 5 });
		expect(page.body.rows.map((letter: Letter) => letter.id)).toEqual(all.rows.slice(14, 21).map((letter) => letter.id));
		// nothing is discarded or replayed yet
		expect((await list({ state: "discarded" })).total + (await list({ state: "replayed" })).total).toBe(0);
		// bad filters are 422 naming the field
		for (const [query, field] of [
			["consumer=billing", "consumer"],
			["eventType=RENAMED", "eventType"],
			["entityId=0", "entityId"],
			["from=yesterday", "from"],
			["state=pending", "state"],
			["colour=red", "colour"],
		]) {
			const res = await admin("GET", `/dead-letters?${query}`);
			expect({ query, status: res.status, fields: res.body.data?.map((entry: { field: string }) => entry.field) }).toEqual({
				query,
				status: 422,
				fields: [field],
			});
		}
	});

	test("an edit with a bad field is 422 naming it and changes nothing; a good edit, replayed, is applied, and the letter keeps the original beside it", async () => {
		const [letter] = (await list({ consumer: "goals", entityId: 6 })).rows;
		expect(letter.event.clientName).toBe(" Name 6 ");
		const before = await list({});
		for (const [event, field] of [
			[{ ...letter.event, clientName: " Still padded " }, "event.clientName"],
			[{ ...letter.event, clientEmail: "nobody" }, "event.clientEmail"],
			[{ ...letter.event, clientId: 7 }, "event.clientId"],
			[{ ...letter.event, version: 3 }, "event.version"],
			[{ ...letter.event, eventId: randomUUID() }, "event.eventId"],
			["not an event", "event"],
		] as const) {
			const res = await admin("PUT", `/dead-letters/${letter.id}`, { event });
			expect({ field, status: res.status }).toEqual({ field, status: 422 });
			expect(res.body.data.map((entry: { field: string }) => entry.field)).toContain(field);
		}
		expect((await admin("PUT", `/dead-letters/${letter.id}`, { event: letter.event, note: "x" })).status).toBe(422);
		expect((await admin("PUT", "/dead-letters/goals-999999", { event: letter.event })).status).toBe(404);
		expect(await list({})).toEqual(before);

		const edited = await admin("PUT", `/dead-letters/${letter.id}`, { event: { ...letter.event, clientName: "Six Fixed" } });
		expect(edited.status).toBe(200);
		expect(edited.body).toMatchObject({
			id: letter.id,
			state: "dead",
			event: { ...letter.event, clientName: "Six Fixed" },
			original: letter.event,
			edited: { by: adminTokenId(TOKEN), at: expect.stringMatching(/Z$/) },
		});
		expect(edited.text).not.toContain(TOKEN);
		expect((await admin("POST", `/dead-letters/${letter.id}/retry`)).status).toBe(200);
		await waitFor(async () => (await copyName(6)) === "Six Fixed", { timeoutMs: 20_000, what: "the edited event applied to the goal service's copy" });
		// its audit: replayed, the event as edited, the original, when and by whom
		const replayed = await list({ state: "replayed" });
		expect(replayed.rows).toEqual([
			expect.objectContaining({ id: letter.id, state: "replayed", event: edited.body.event, original: letter.event, edited: edited.body.edited }),
		]);
		expect((await admin("PUT", `/dead-letters/${letter.id}`, { event: letter.event })).status).toBe(404);
	});

	test("a bulk retry by filter replays exactly those letters; a bulk discard keeps its letters aside as discarded", async () => {
		await replFaults(goalsNode, "goals", "none");
		await replFaults(clientsNode, "clients", "none");
		for (const body of [undefined, {}, { filter: { state: "discarded" } }, { filter: { colour: "red" } }, { filter: "all" }]) {
			expect({ body, status: (await admin("POST", "/dead-letters/retry", body)).status }).toEqual({ body, status: 422 });
		}
		const chosen = await list({ error: "Injected fault", entityId: 2 });
		expect(chosen.rows.map(signatureOf).sort()).toEqual(selected({ error: "Injected fault", entityId: 2 }));
		const retried = await admin("POST", "/dead-letters/retry", { filter: { error: "Injected fault", entityId: 2 } });
		expect(retried.status).toBe(200);
		expect(retried.body).toEqual({ retried: 4 });
		await waitFor(async () => (await list({ state: "replayed", entityId: 2 })).total === 4, { timeoutMs: 30_000, what: "the four replayed" });
		expect((await list({ state: "replayed", entityId: 2 })).rows.map((letter) => letter.id).sort()).toEqual(chosen.rows.map((letter) => letter.id).sort());
		// applied: client 2's last name in the goal service's copy, goal 2 gone from client 7's copy
		expect(await copyName(2)).toBe("Client 2 v3");
		await waitFor(async () => (await api.get("/clients/7")).body.goals.length === 0, { timeoutMs: 10_000, what: "goal 2 gone from the client service's copy" });
		// the others wait as they were
		expect((await list({ error: "Injected fault" })).total).toBe(16);
		expect(await copyName(1)).toBe("Client 1");

		const discarded = await admin("POST", "/dead-letters/discard", { filter: { error: "eventType it names" } });
		expect(discarded.body).toEqual({ discarded: 5 });
		const aside = await list({ state: "discarded" });
		expect(aside.rows.map(signatureOf).sort()).toEqual(selected({ error: "eventType it names" }));
		expect((await list({})).total).toBe(20);
		expect((await admin("POST", "/dead-letters/discard", { filter: { error: "eventType it names" } })).body).toEqual({ discarded: 0 });
	});

	test("the same through the REPL: list by filter, edit, retry and discard one or in bulk, purge as of a later time", async () => {
		// a real node's REPL takes the filters as options
		const typed = await replRun(
			goalsNode,
			"dlq list --consumer clients --eventType DELETED",
			(lines) => lines.filter((line) => line.startsWith("clients-")).length >= 4,
		);
		// goal 2's was replayed above: the other four goals' deletions
		const deletions = typed.filter((line) => line.startsWith("clients-"));
		expect(deletions).toHaveLength(4);
		for (const line of deletions)
			expect(line).toMatch(/^clients-\d+ {2}goals #\d+ DELETED v3 {2}attempts 3 {2}\S+Z {2}InjectedFaultError: Injected fault for entity [1345]$/);

		const spaced = await repl("dlq", { verb: "list", options: { consumer: "goals", error: "white space" } });
		expect(spaced).toHaveLength(4);
		const seven = (await list({ consumer: "goals", entityId: 7 })).rows[0];
		// (the probe's five events may arrive in any order)
		expect(spaced).toContainEqual(
			expect.stringMatching(new RegExp(`^${seven.id}  clients #1007 UPDATED v2  attempts 1  \\S+Z  InvalidEventError: .*white space`)),
		);
		expect(await repl("dlq", { verb: "list", options: { consumer: "goals", eventType: "SIDEWAYS" } })).toEqual([
			expect.stringMatching(/^dlq list: The 'eventType' field .*does not match any of the allowed values\.$/),
		]);

		expect(await repl("dlq", { verb: "edit", id: seven.id, options: { clientName: " bad " } })).toEqual([
			expect.stringMatching(/^dlq edit failed: Parameters validation error! The 'event.clientName' field must not start or end with white space\.$/),
		]);
		expect(await repl("dlq", { verb: "edit", id: seven.id, options: { clientName: "Seven Fixed" } })).toEqual([
			expect.stringMatching(new RegExp(`^${seven.id} edited: .*"clientName":"Seven Fixed".*\\. dlq retry ${seven.id} replays it\\.$`)),
		]);
		expect(await repl("dlq", { verb: "retry", id: seven.id })).toEqual([`${seven.id} queued for retry now.`]);
		await waitFor(async () => (await copyName(7)) === "Seven Fixed", { timeoutMs: 20_000, what: "the REPL's edit applied" });
		const audited = (await list({ state: "replayed", entityId: 7 })).rows[0];
		expect(audited).toMatchObject({ original: seven.event, edited: { by: "repl" } });

		expect(await repl("dlq", { verb: "retry", options: { consumer: "goals", error: "Injected" } })).toEqual(["8 dead letter(s) queued for retry now."]);
		await waitFor(async () => (await list({ consumer: "goals", state: "replayed", error: "Injected" })).total === 10, {
			timeoutMs: 30_000,
			what: "the eight replayed",
		});
		for (const i of [1, 3, 4, 5]) expect(await copyName(i)).toBe(`Client ${i} v3`);
		expect(await repl("dlq", { verb: "discard", options: { consumer: "goals", error: "white space" } })).toEqual(["3 dead letter(s) discarded."]);
		expect(await repl("dlq", { verb: "list", options: { state: "discarded" } })).toHaveLength(8);
		expect(await repl("dlq", { verb: "discard" })).toEqual([expect.stringMatching(/^Usage: dlq list/)]);
		// the clients consumer's eight injected letters wait still
		expect((await list({})).total).toBe(8);

		// the retention (14 days) counted from when each was settled: nothing is over 13 days on, all of it 15 days on
		const now = Date.now();
		expect(await repl("dlq", { verb: "purge", options: { asOf: new Date(now + 13 * DAY).toISOString() } })).toEqual(["0 settled dead letter(s) purged."]);
		const settled = (await list({ state: "discarded" })).total + (await list({ state: "replayed" })).total;
		expect(settled).toBe(22);
		expect(await repl("dlq", { verb: "purge", options: { asOf: new Date(now + 15 * DAY).toISOString() } })).toEqual([
			`${settled} settled dead letter(s) purged.`,
		]);
		expect((await list({ state: "discarded" })).total + (await list({ state: "replayed" })).total).toBe(0);
		expect((await list({})).rows.map(signatureOf).sort()).toEqual(
			expected
				.filter((one) => one.consumer === "clients" && one.cause === "injected" && one.entityId !== 2)
				.map(signature)
				.sort(),
		);
		expect(await repl("dlq", { verb: "purge", options: { asOf: "soon" } })).toEqual(["dlq purge: --asOf must be an ISO time."]);
	});

	test("every admin route refuses a missing or a wrong token (401), and changes nothing", async () => {
		const before = await list({});
		const wrong = `${TOKEN.slice(0, -1)}x`;
		let refusals = 1;
		const concrete = (path: string) => path.replace(":id", before.rows[0].id).replace(":consumer", "goals");
		for (const route of Object.keys(ADMIN_ROUTES)) {
			const [method, path] = route.split(" ");
			const body = method === "GET" ? undefined : { filter: {}, event: before.rows[0].event };
			const refused: Array<Record<string, string>> = [{}, { authorization: `Bearer ${wrong}` }, { authorization: TOKEN }];
			for (const headers of refused) {
				const res = await admin(method, concrete(path), body, { ...headers, "x-forwarded-for": `10.0.${refusals >> 8}.${refusals++ & 255}` });
				expect({ route, headers, status: res.status }).toEqual({ route, headers, status: 401 });
			}
		}
		expect(await list({})).toEqual(before);
		expect((await admin("GET", "/consumers")).body.every((entry: { state: string }) => entry.state === "running")).toBe(true);
		expect(CONSUMERS.goals.service).toBe("goals");
	});
});
