/**
 * Every answer is bounded, through real HTTP on a real embedded system (SQLite):
 * - the audit routes answer at most 1,000 events, oldest first, and `?afterVersion=` (with
 *   `?limit=`) reads on, every event exactly once;
 * - a client's goals in an answer are its first 1,000 by id, and `GET /goals?clientId=` pages
 *   through all of them;
 * - the dead-letter list is paged across both consumers;
 * - the in-process cacher is an LRU with a ceiling.
 */
import { replCommands } from "../../lib/consumer/repl-commands";
import { MEMORY_CACHE_MAX_KEYS } from "../../moleculer.config";
import { expectErrorShape } from "../helpers/expect-error";
import { request } from "../helpers/http";
import { checkpointOf, lastSequenceOf, withSqlite } from "../helpers/sqlite";
import { useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const TOKEN = "bounds-test-admin-token-of-forty-chars!!";
const sut = useSystem({ env: { ADMIN_TOKEN: TOKEN } });
const { api } = sut;

/** `count` calls of `work`, `concurrency` at a time. */
async function inParallel(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
	let next = 0;
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (next < count) await work(next++);
		}),
	);
}

interface Event {
	eventType: string;
	version: number;
	sequence: number;
}

const versionsOf = (events: Event[]) => events.map((event) => event.version);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("audit routes: at most 1,000 events an answer, oldest first; afterVersion reads on", () => {
	const UPDATES = 1_100;
	let clientId = 0;
	let path = "";

	beforeAll(async () => {
		const created = await api.post("/clients", { name: "Audited", email: "audited@example.com" });
		expect(created.status).toBe(201);
		clientId = created.body.id;
		path = `/clients/${clientId}/events`;
		const statuses: number[] = [];
		await inParallel(UPDATES, 50, async (i) => {
			statuses.push((await api.put(`/clients/${clientId}`, { name: `Audited ${i}` })).status);
		});
		expect(statuses.filter((status) => status !== 200)).toEqual([]);
	}, 60_000);

	test("the first answer is versions 1 to 1,000 of 1,101, in order", async () => {
		const res = await api.get(path);
		expect(res.status).toBe(200);
		expect(versionsOf(res.body)).toEqual(range(1, 1000));
		expect(res.body[0].eventType).toBe("CREATED");
		const sequences = res.body.map((event: Event) => event.sequence);
		expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
	});

	test("afterVersion=1000 is the rest; after the last version, an empty page (not a 404)", async () => {
		const rest = await api.get(`${path}?afterVersion=1000`);
		expect(rest.status).toBe(200);
		expect(versionsOf(rest.body)).toEqual(range(1001, UPDATES + 1));
		for (const after of [UPDATES + 1, 5000]) {
			const past = await api.get(`${path}?afterVersion=${after}`);
			expect({ status: past.status, body: past.body }).toEqual({ status: 200, body: [] });
		}
	});

	test("reading on with a limit gives every event exactly once, in order, a limit at a time", async () => {
		const seen: Event[] = [];
		let answers = 0;
		for (;;) {
			const after = seen.length === 0 ? 0 : seen[seen.length - 1].version;
			const res = await api.get(`${path}?afterVersion=${after}&limit=300`);
			expect(res.status).toBe(200);
			answers++;
			expect(res.body.length).toBeLessThanOrEqual(300);
			if (res.body.length === 0) break;
			seen.push(...res.body);
		}
		expect(versionsOf(seen)).toEqual(range(1, UPDATES + 1));
		expect(answers).toBe(5); // 300, 300, 300, 201, then none
		// the same events as the unpaged answers
		const whole = [...(await api.get(path)).body, ...(await api.get(`${path}?afterVersion=1000`)).body];
		expect(seen).toEqual(whole);
	});

	test("limit=1000 is the most one answer holds; afterVersion=10&limit=5 is versions 11 to 15", async () => {
		expect(versionsOf((await api.get(`${path}?limit=1000`)).body)).toEqual(range(1, 1000));
		expect(versionsOf((await api.get(`${path}?afterVersion=10&limit=5`)).body)).toEqual(range(11, 15));
		const refused = await api.get(`${path}?limit=1001`);
		expectErrorShape(refused, 422);
		expect(refused.body.data.map((entry: { field: string }) => entry.field)).toEqual(["limit"]);
	});

	test("a deleted client's trail is read on the same way, ending with DELETED", async () => {
		expect((await api.del(`/clients/${clientId}`)).status).toBe(204);
		const tail = await api.get(`${path}?afterVersion=${UPDATES}`);
		expect(tail.body.map((event: Event) => [event.version, event.eventType])).toEqual([
			[UPDATES + 1, "UPDATED"],
			[UPDATES + 2, "DELETED"],
		]);
	});

	test("an entity without events is a 404, whatever afterVersion says", async () => {
		for (const query of ["", "?afterVersion=0", "?afterVersion=5", "?limit=1"]) {
			expectErrorShape(await api.get(`/clients/999999/events${query}`), 404);
			expectErrorShape(await api.get(`/goals/999999/events${query}`), 404);
		}
	});

	test("a goal's trail pages the same way", async () => {
		const owner = await api.post("/clients", { name: "Goal owner", email: "goal.owner@example.com" });
		const goal = await api.post("/goals", { clientId: owner.body.id, goalName: "Car", targetAmount: 100 });
		expect(goal.status).toBe(201);
		for (let i = 1; i <= 4; i++) expect((await api.put(`/goals/${goal.body.id}`, { targetAmount: 100 + i })).status).toBe(200);
		const goalPath = `/goals/${goal.body.id}/events`;
		expect(versionsOf((await api.get(`${goalPath}?limit=2`)).body)).toEqual([1, 2]);
		expect(versionsOf((await api.get(`${goalPath}?afterVersion=2&limit=2`)).body)).toEqual([3, 4]);
		expect(versionsOf((await api.get(`${goalPath}?afterVersion=4&limit=2`)).body)).toEqual([5]);
		expect((await api.get(`${goalPath}?afterVersion=5`)).body).toEqual([]);
	});
});

describe("a client's goals: its first 1,000 by id in an answer; GET /goals?clientId= pages through all", () => {
	const GOALS = 1_001;
	let clientId = 0;
	let ids: number[] = [];

	beforeAll(async () => {
		const created = await api.post("/clients", { name: "Saver", email: "saver@example.com" });
		expect(created.status).toBe(201);
		clientId = created.body.id;
		const statuses: number[] = [];
		await inParallel(GOALS, 50, async (i) => {
			const res = await api.post("/goals", { clientId, goalName: `Goal ${i}`, targetAmount: 1 + i });
			statuses.push(res.status);
			if (res.status === 201) ids.push(res.body.id);
		});
		expect(statuses.filter((status) => status !== 201)).toEqual([]);
		ids = ids.sort((a, b) => a - b);
		// the client service's copy of the goals holds all 1,001 (its checkpoint at the end of the goal log)
		const { dataDir } = sut.system;
		await waitFor(async () => (await checkpointOf(dataDir, "clients", "goals")) === (await lastSequenceOf(dataDir, "goals")), {
			what: "the client service's copy of every goal",
		});
	}, 60_000);

	test("GET /clients/:id/goals is the first 1,000 by id", async () => {
		const res = await api.get(`/clients/${clientId}/goals`);
		expect(res.status).toBe(200);
		expect(res.body.map((goal: { id: number }) => goal.id)).toEqual(ids.slice(0, 1000));
	});

	test("the client itself, alone or on a list page, carries the same 1,000", async () => {
		const client = await api.get(`/clients/${clientId}`);
		expect(client.body.goals.map((goal: { id: number }) => goal.id)).toEqual(ids.slice(0, 1000));
		const page = await api.get("/clients?pageSize=100");
		const listed = page.body.rows.find((row: { id: number }) => row.id === clientId);
		expect(listed.goals.map((goal: { id: number }) => goal.id)).toEqual(ids.slice(0, 1000));
	});

	test("GET /goals?clientId= has all 1,001: the last page holds the 1,001st", async () => {
		const last = await api.get(`/goals?clientId=${clientId}&page=11&pageSize=100`);
		expect(last.body).toMatchObject({ total: GOALS, totalPages: 11 });
		expect(last.body.rows.map((goal: { id: number }) => goal.id)).toEqual([ids[1000]]);
	});

	test("the cap counts living goals: with one of the first deleted, the 1,001st is in the answer", async () => {
		expect((await api.del(`/goals/${ids[0]}`)).status).toBe(204);
		const res = await waitFor(async () => {
			const reply = await api.get(`/clients/${clientId}/goals`);
			return reply.body[0]?.id !== ids[0] ? reply : null;
		});
		expect(res.body.map((goal: { id: number }) => goal.id)).toEqual(ids.slice(1, 1001));
		const client = await waitFor(async () => {
			const reply = await api.get(`/clients/${clientId}`);
			return reply.body.goals[0]?.id !== ids[0] ? reply : null;
		});
		expect(client.body.goals.map((goal: { id: number }) => goal.id)).toEqual(ids.slice(1, 1001));
	});
});

describe("dead letters, paged across both consumers", () => {
	const admin = (query: string) => request("GET", `${sut.system.url}/admin/dead-letters${query}`, undefined, { headers: { authorization: `Bearer ${TOKEN}` } });
	const IN_GOALS = 150;
	const IN_CLIENTS = 30;
	let expected: string[] = [];

	/** Dead letters as the consumers leave them: rows of their retry tables, status dead. */
	async function deadLetters(db: "goals" | "clients", count: number): Promise<string[]> {
		const time = new Date().toISOString().replace("T", " ").replace("Z", " +00:00");
		return withSqlite(sut.system.dataDir, db, async (sequelize) => {
			for (let i = 1; i <= count; i++) {
				const event =
					db === "goals"
						? {
								eventId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
								eventType: "UPDATED",
								source: "clients",
								timestamp: new Date().toISOString(),
								sequence: i,
								version: 2,
								clientId: i,
								clientName: "X",
								clientEmail: "x@example.com",
							}
						: {
								eventId: `00000000-0000-4000-9000-${String(i).padStart(12, "0")}`,
								eventType: "UPDATED",
								source: "goals",
								timestamp: new Date().toISOString(),
								sequence: i,
								version: 2,
								goalId: i,
								clientId: 1,
								goalName: "G",
								targetAmount: 1,
							};
				await sequelize.query(
					`INSERT INTO event_retries ("producer", "eventId", "sequence", "payload", "attempts", "status", "nextAttemptAt", "lastError", "createdAt", "updatedAt")
					 VALUES (?, ?, ?, ?, 3, 'dead', ?, 'Error: failed', ?, ?)`,
					{ replacements: [event.source, event.eventId, i, JSON.stringify(event), time, time, time] },
				);
			}
			const rows = (await sequelize.query(`SELECT "id" FROM event_retries WHERE "status" = 'dead' ORDER BY "id"`)) as [Array<{ id: number }>, unknown];
			return rows[0].map((row) => `${db}-${row.id}`);
		});
	}

	beforeAll(async () => {
		expected = [...(await deadLetters("goals", IN_GOALS)), ...(await deadLetters("clients", IN_CLIENTS))];
		expect(expected).toHaveLength(IN_GOALS + IN_CLIENTS);
	});

	test("the first page: 10 by default, goals' first, with the total", async () => {
		const res = await admin("");
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ total: 180, page: 1, pageSize: 10, totalPages: 18 });
		expect(res.body.rows.map((letter: { id: string }) => letter.id)).toEqual(expected.slice(0, 10));
		expect(res.body.rows[0]).toMatchObject({ consumer: "goals", producer: "clients", attempts: 3, event: { sequence: 1 } });
	});

	test("pages of 7 give every dead letter exactly once, in order, across the two consumers", async () => {
		const seen: string[] = [];
		for (let page = 1; page <= 26; page++) {
			const res = await admin(`?page=${page}&pageSize=7`);
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({ total: 180, page, pageSize: 7, totalPages: 26 });
			seen.push(...res.body.rows.map((letter: { id: string }) => letter.id));
		}
		expect(seen).toEqual(expected);
	});

	test("a page that straddles the consumers, the last page, and one past it", async () => {
		const straddling = await admin("?page=22&pageSize=7"); // letters 148..154: goals 148-150, clients 1-4
		expect(straddling.body.rows.map((letter: { id: string }) => letter.id)).toEqual(expected.slice(147, 154));
		const last = await admin("?page=2&pageSize=100");
		expect(last.body.rows.map((letter: { id: string }) => letter.id)).toEqual(expected.slice(100));
		const past = await admin("?page=1000000&pageSize=100");
		expect(past.body).toEqual({ rows: [], total: 180, page: 1_000_000, pageSize: 100, totalPages: 2 });
	});

	test.each([
		["page=0", "page"],
		["page=1000001", "page"],
		["page=100000000000000000", "page"],
		["pageSize=101", "pageSize"],
		["pageSize=0", "pageSize"],
		["sort=id", "sort"],
	])("?%s is a 422 naming %s", async (query, field) => {
		const res = await admin(`?${query}`);
		expectErrorShape(res, 422);
		expect(res.body.data.map((entry: { field: string }) => entry.field)).toEqual([field]);
	});

	test("the REPL's dlq list shows a page of 100 and says how to read on", async () => {
		const [dlq] = replCommands;
		const output: string[] = [];
		// console is the REPL's output, not the system under test
		const spy = jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
			output.push(args.map(String).join(" "));
		});
		try {
			await dlq.action(sut.system.broker, { verb: "list" } as unknown as string[], {});
			expect(output).toHaveLength(101);
			expect(output[100]).toBe("Page 1 of 2 (180 dead letters): dlq list <page>");
			output.length = 0;
			await dlq.action(sut.system.broker, { verb: "list", id: "2" } as unknown as string[], {});
			expect(output.slice(0, -1).map((line) => line.split(" ")[0])).toEqual(expected.slice(100));
		} finally {
			spy.mockRestore();
		}
	});
});

test("the in-process cacher is Moleculer's LRU, holding at most MEMORY_CACHE_MAX_KEYS entries", () => {
	const cacher = sut.system.broker.cacher as unknown as { constructor: { name: string }; cache: { max: number } };
	expect(cacher.constructor.name).toBe("MemoryLRUCacher");
	expect(cacher.cache.max).toBe(MEMORY_CACHE_MAX_KEYS);
	expect(MEMORY_CACHE_MAX_KEYS).toBe(10_000);
});
