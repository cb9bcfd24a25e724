/**
 * A consumer's dead letters as a queryable store (lib/consumer/retries.ts) and its pause
 * (lib/consumer/pauses.ts), on a real SQLite file and a real PostgreSQL database, with the clock
 * in the test's hand: every filter selects exactly its letters, an edit is checked and keeps the
 * original, bulk retries and discards count what they changed, a purge removes settled letters
 * once their retention is over and nothing else; failures are counted across replicas, pause the
 * consumer at the threshold, and one replica alone takes the turn to try an event.
 */
import path from "node:path";
import { Errors } from "moleculer";
import { Client } from "pg";
import { SOURCES } from "../../lib/constants";
import type { DeadLetterFilter } from "../../lib/consumer/dead-letter-query";
import { retentionCutoff } from "../../lib/consumer/dead-letter-retention";
import { PauseStore } from "../../lib/consumer/pauses";
import { type DeadLetter, RetryStore } from "../../lib/consumer/retries";
import type { ClientEvent } from "../../lib/domain/events";
import { FieldValidationError } from "../../lib/errors";
import { RETRY_POLICY } from "../../lib/domain/retry-schedule";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { removeDir, tempDataDir } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const START = Date.parse("2026-03-01T00:00:00.000Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const EVENT_TYPES = ["CREATED", "UPDATED", "DELETED"] as const;
const CAUSES = ["InjectedFaultError: Injected fault", "SequelizeUniqueConstraintError: duplicate key", "TimeoutError: no answer in 10 s"];

interface Seeded {
	row: number;
	event: ClientEvent;
	error: string;
	failedAt: number;
}

const event = (n: number): ClientEvent => ({
	eventId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
	// types by fives, causes by threes: every type meets every cause
	eventType: EVENT_TYPES[Math.floor(n / 5) % 3],
	source: "clients",
	timestamp: new Date(START).toISOString(),
	sequence: 100 + n,
	version: 1 + (n % 4),
	clientId: 1 + (n % 5),
	clientName: `Client ${n}`,
	clientEmail: `c${n}@example.com`,
});

function storeTests(uriOf: () => Promise<string>): void {
	let clock = START;
	let uri = "";
	let db: Database;
	let retries: RetryStore;
	const seeded: Seeded[] = [];

	const ids = (letters: DeadLetter[]) => letters.map((letter) => letter.id);
	const expectedIds = (keep: (seed: Seeded) => boolean) => seeded.filter(keep).map((seed) => `goals-${seed.row}`);
	const list = async (filter: DeadLetterFilter, offset = 0, limit = 100) => retries.deadLetters(filter, offset, limit);

	beforeAll(async () => {
		uri = await uriOf();
		db = new Database(uri, { schema: serviceSchema(SOURCES.goals), poolMax: 2 });
		await db.open();
		// one attempt: a recorded failure is a dead letter at once
		retries = new RetryStore(db, "goals", { ...RETRY_POLICY, attempts: 1, jitter: 0 }, () => new Date(clock));
		// 15 dead letters, an hour apart: three causes, three event types, five clients
		for (let n = 0; n < 15; n++) {
			clock = START + n * HOUR;
			const error = new Error(`${CAUSES[n % 3].split(": ")[1]} (letter ${n})`);
			error.name = CAUSES[n % 3].split(": ")[0];
			await db.transaction((sql) => retries.record(sql, SOURCES.clients, event(n), error));
			seeded.push({ row: n + 1, event: event(n), error: `${CAUSES[n % 3]} (letter ${n})`, failedAt: clock });
		}
	});

	afterAll(async () => {
		await db.close();
		await db.sequelize.close();
	});

	test("given no filter, then every dead letter by id, with its state, first failure and event", async () => {
		const all = await list({});
		expect(all.total).toBe(15);
		expect(ids(all.rows)).toEqual(expectedIds(() => true));
		expect(all.rows[4]).toEqual({
			id: "goals-5",
			consumer: "goals",
			producer: "clients",
			attempts: 1,
			lastError: seeded[4].error,
			failedAt: new Date(seeded[4].failedAt).toISOString(),
			requestId: null,
			event: seeded[4].event,
			state: "dead",
		});
	});

	test.each(EVENT_TYPES.map((type) => [type]))("given eventType %s, then exactly its letters", async (eventType) => {
		expect(ids((await list({ eventType })).rows)).toEqual(expectedIds((seed) => seed.event.eventType === eventType));
	});

	test.each([1, 3, 5, 6].map((id) => [id]))("given entityId %p, then exactly that client's letters (none for 6)", async (entityId) => {
		const found = await list({ entityId });
		expect(ids(found.rows)).toEqual(expectedIds((seed) => seed.event.clientId === entityId));
		expect(found.total).toBe(entityId === 6 ? 0 : 3);
	});

	test.each(["Injected fault", "duplicate key", "no answer", "(letter 1", "letter 12)", "injected fault", "%", "_"])(
		"given the error text %p, then exactly the letters whose last error holds it, case as written",
		async (error) => {
			expect(ids((await list({ error })).rows)).toEqual(expectedIds((seed) => seed.error.includes(error)));
		},
	);

	test("given a time window, then the letters first failed in it: from inclusive, to exclusive", async () => {
		const from = new Date(START + 3 * HOUR).toISOString();
		const to = new Date(START + 7 * HOUR).toISOString();
		expect(ids((await list({ from, to })).rows)).toEqual(["goals-4", "goals-5", "goals-6", "goals-7"]);
		expect(ids((await list({ from: new Date(START + 13 * HOUR + 1).toISOString() })).rows)).toEqual(["goals-15"]);
		expect((await list({ to: new Date(START).toISOString() })).total).toBe(0);
		// the same instant written with an offset
		expect(ids((await list({ from: "2026-03-01T15:00:00.000+02:00", to: "2026-03-01T16:00:00+02:00" })).rows)).toEqual(["goals-14"]);
	});

	test("given several keys, then the letters matching all of them", async () => {
		const filter = { eventType: "UPDATED" as const, error: "Injected", from: new Date(START + HOUR).toISOString() };
		const expected = expectedIds((seed) => seed.event.eventType === "UPDATED" && seed.error.includes("Injected") && seed.failedAt >= START + HOUR);
		expect(expected.length).toBeGreaterThan(0);
		expect(ids((await list(filter)).rows)).toEqual(expected);
	});

	test("given a page of a filter's letters, then that slice and the filter's total", async () => {
		const page = await list({ error: "letter" }, 4, 5);
		expect(page.total).toBe(15);
		expect(ids(page.rows)).toEqual(["goals-5", "goals-6", "goals-7", "goals-8", "goals-9"]);
		expect(await list({ error: "letter" }, 0, 0)).toEqual({ rows: [], total: 15 });
	});

	test("given a refused payload, then it is found by what it has that is valid, and by nothing else", async () => {
		clock = START + 20 * HOUR;
		await db.transaction((sql) =>
			retries.reject(sql, SOURCES.clients, { eventType: "UPDATED", clientId: "1", clientName: 5 }, new Error("The 'clientName' field must be a string.")),
		);
		const refused = await list({ error: "must be a string" });
		expect(refused.rows).toMatchObject([{ id: "goals-16", state: "dead", event: { eventType: "UPDATED", clientId: "1" } }]);
		expect(ids((await list({ eventType: "UPDATED", error: "must be" })).rows)).toEqual(["goals-16"]);
		expect((await list({ entityId: 1, error: "must be" })).total).toBe(0);
		// it cannot be edited: nothing of it can be trusted to stay the same event
		await expect(retries.edit(16, event(16), "token-x")).rejects.toBeInstanceOf(FieldValidationError);
		await expect(retries.discard(16)).resolves.toMatchObject({ id: "goals-16", state: "discarded" });
	});

	describe("edit before replay", () => {
		test("given a field its schema refuses, then a 422 naming it, and nothing changed", async () => {
			const before = await retries.deadLetter(2);
			const failure = await retries.edit(2, { ...seeded[1].event, clientName: " padded ", clientEmail: "not an address" }, "token-a").catch((err) => err);
			expect(failure).toBeInstanceOf(FieldValidationError);
			expect(failure.code).toBe(422);
			expect(failure.data.map((entry: { field: string }) => entry.field).sort()).toEqual(["event.clientEmail", "event.clientName"]);
			expect(await retries.deadLetter(2)).toEqual(before);
		});

		test.each(["eventId", "sequence", "version", "clientId"])("given %s changed, then a 422 naming it, and nothing changed", async (field) => {
			const before = await retries.deadLetter(2);
			const original = seeded[1].event as unknown as Record<string, unknown>;
			const changed = field === "eventId" ? "10000000-0000-4000-8000-000000000000" : (original[field] as number) + 1;
			const failure = await retries.edit(2, { ...original, [field]: changed }, "token-a").catch((err) => err);
			expect(failure.data).toContainEqual(expect.objectContaining({ field: `event.${field}`, type: "immutable" }));
			expect(await retries.deadLetter(2)).toEqual(before);
		});

		test("given a good edit, then the event is replaced, the original kept beside it, with when and by whom; a second edit keeps the first original", async () => {
			clock = START + 30 * HOUR;
			const edited = await retries.edit(2, { ...seeded[1].event, clientName: "Fixed Name" }, "token-abc");
			expect(edited).toMatchObject({
				id: "goals-2",
				state: "dead",
				event: { ...seeded[1].event, clientName: "Fixed Name" },
				original: seeded[1].event,
				edited: { at: new Date(START + 30 * HOUR).toISOString(), by: "token-abc" },
			});
			clock += HOUR;
			const again = await retries.edit(2, { ...seeded[1].event, clientName: "Fixed Again" }, "repl");
			expect(again).toMatchObject({ event: { clientName: "Fixed Again" }, original: seeded[1].event, edited: { by: "repl" } });
			// found by the same filters as before (its first failure and type did not change)
			expect(ids((await list({ eventType: seeded[1].event.eventType, entityId: seeded[1].event.clientId })).rows)).toContain("goals-2");
		});

		test("given a letter that is not dead, then a 404", async () => {
			const failure = await retries.edit(16, event(16), "token-a").catch((err) => err);
			expect(failure).toBeInstanceOf(Errors.MoleculerClientError);
			expect(failure).toMatchObject({ code: 404, type: "NOT_FOUND", data: { id: "goals-16" } });
			await expect(retries.edit(999, event(1), "token-a")).rejects.toMatchObject({ code: 404 });
		});
	});

	describe("bulk retry, discard, retention", () => {
		test("given a filter, then a bulk retry sends exactly its dead letters back for retry, due now, and says how many", async () => {
			clock = START + 40 * HOUR;
			const filter = { error: "duplicate key" };
			const expected = (await list(filter)).rows.map((letter) => letter.id);
			expect(await retries.reviveMatching(filter)).toBe(expected.length);
			expect((await list(filter)).total).toBe(0);
			expect((await retries.due(100)).map((row) => `goals-${row}`)).toEqual(expected);
			// a second time finds none: they are no dead letters now
			expect(await retries.reviveMatching(filter)).toBe(0);
			// applied, each is kept as replayed
			for (const id of await retries.due(100)) {
				await db.transaction(async (sql) => {
					const row = await retries.claim(sql, id);
					if (row) await retries.succeeded(sql, row);
				});
			}
			expect(ids((await list({ state: "replayed" })).rows)).toEqual(expected);
		});

		test("given a filter with another state, then a bulk call still touches dead letters only", async () => {
			const dead = (await list({})).total;
			const replayed = (await list({ state: "replayed" })).total;
			expect(await retries.reviveMatching({ state: "replayed" })).toBe(dead);
			expect((await list({ state: "replayed" })).total).toBe(replayed);
			expect((await list({})).total).toBe(0);
			// back to dead, for what follows
			for (const id of await retries.due(100))
				await db.transaction(async (sql) => {
					const row = await retries.claim(sql, id);
					if (row) await retries.failed(sql, row, new Error("again"));
				});
		});

		test("given a bulk discard and the retention, then the purge removes exactly the settled letters whose time is over", async () => {
			clock = START + 50 * HOUR;
			const dead = (await list({})).total;
			const discarded = await retries.discardMatching({ eventType: "CREATED" });
			expect(discarded).toBeGreaterThan(0);
			expect((await list({})).total).toBe(dead - discarded);
			const settled = (await list({ state: "discarded" })).total + (await list({ state: "replayed" })).total;
			expect(settled).toBeGreaterThan(discarded);

			// 14 days after the earliest settlement less a millisecond: nothing is over yet
			const earliest = START + 20 * HOUR;
			expect(await retries.purgeSettled(retentionCutoff(new Date(earliest + 14 * DAY - 1), 14))).toBe(0);
			// the refused one (discarded at 20 h) is over first
			expect(await retries.purgeSettled(retentionCutoff(new Date(START + 20 * HOUR + 14 * DAY + 1), 14))).toBe(1);
			// then all the others; the dead ones stay, however old
			expect(await retries.purgeSettled(retentionCutoff(new Date(START + 60 * HOUR + 14 * DAY), 14))).toBe(settled - 1);
			expect((await list({ state: "discarded" })).total + (await list({ state: "replayed" })).total).toBe(0);
			expect((await list({})).total).toBe(dead - discarded);
		});
	});

	describe("the pause and its failures, two replicas sharing the table", () => {
		const policy = { after: 3, ms: 60_000 };
		let a: PauseStore;
		let b: PauseStore;

		beforeAll(() => {
			a = new PauseStore(db, "goals", policy, () => new Date(clock));
			b = new PauseStore(db, "goals", policy, () => new Date(clock));
		});

		test("given no row, then running; failures on both replicas add up, a success on either counts from 0 again", async () => {
			expect(await a.read()).toEqual({ state: "running", reason: null, since: null, probeAt: null, failures: 0 });
			await db.transaction((sql) => a.count(sql, [false], "E1"));
			await db.transaction((sql) => b.count(sql, [true, false], "E2"));
			expect((await a.read()).failures).toBe(1);
			await db.transaction((sql) => b.count(sql, [false], "E3"));
			expect((await b.read()).failures).toBe(2);
			await db.transaction((sql) => a.count(sql, [true], ""));
			expect(await b.read()).toMatchObject({ state: "running", failures: 0 });
		});

		test("given the third consecutive failure, then paused by failures, its try a pause later; more failures leave the pause as it is", async () => {
			clock = START + 100 * HOUR;
			await db.transaction((sql) => a.count(sql, [false, false], "E"));
			const paused = await db.transaction((sql) => b.count(sql, [false], "InjectedFaultError: the third"));
			expect(paused).toMatchObject({ state: "paused", failures: 3, since: new Date(clock), probeAt: new Date(clock + 60_000) });
			expect(paused?.reason).toContain("3 consecutive failed events (last: InjectedFaultError: the third)");
			expect(await db.transaction((sql) => a.count(sql, [false], "E"))).toBeNull();
			expect(await a.read()).toMatchObject({ state: "paused", failures: 4, probeAt: new Date(clock + 60_000) });
		});

		test("given its try is due, then one replica alone gets the turn, and the next try is a pause later", async () => {
			expect(await a.claimProbe()).toBeNull();
			clock += 60_000;
			const turns = await Promise.all([a.claimProbe(), b.claimProbe()]);
			expect(turns.filter(Boolean)).toEqual([expect.objectContaining({ state: "paused", probeAt: new Date(clock + 60_000) })]);
			expect(await a.read()).toMatchObject({ state: "paused", probeAt: new Date(clock + 60_000) });
			const tried = await b.probeSucceeded();
			expect(tried).toMatchObject({ changed: true, pause: { state: "running", failures: 0, since: new Date(clock) } });
		});

		test("given an operator's pause, then no try is ever due, and only a resume ends it", async () => {
			clock += HOUR;
			expect(await a.pause("token-abc", "maintenance")).toMatchObject({ changed: true, pause: { state: "paused", probeAt: null } });
			expect((await b.read()).reason).toBe("paused by an operator (token-abc): maintenance");
			expect(await b.pause("repl")).toMatchObject({ changed: false });
			clock += 30 * DAY;
			expect(await a.claimProbe()).toBeNull();
			expect(await b.probeSucceeded()).toMatchObject({ changed: false, pause: { state: "paused" } });
			expect(await b.resume()).toMatchObject({ changed: true, pause: { state: "running", since: new Date(clock) } });
			expect(await a.resume()).toMatchObject({ changed: false });
		});
	});

	test("given the same event failing in two transactions at once (a live delivery and a catch-up page), then one row for it", async () => {
		const twice = event(99);
		const error = new Error("InjectedFaultError: Injected fault (twice)");
		let release: () => void = () => undefined;
		const held = new Promise<void>((resolve) => (release = resolve));
		let recorded: () => void = () => undefined;
		const firstRecorded = new Promise<void>((resolve) => (recorded = resolve));
		// the first records it and stays open; the second records it meanwhile
		const first = db.transaction(async (sql) => {
			await retries.record(sql, SOURCES.clients, twice, error);
			recorded();
			await held;
		});
		await firstRecorded;
		const second = db.transaction((sql) => retries.record(sql, SOURCES.clients, twice, error));
		if (db.dialect === "postgres") {
			// it waits for the first to commit (on SQLite the writer runs one transaction at a time
			// anyway); seen from a connection of the test's own, the pool's two being both in use
			const watcher = new Client({ connectionString: uri });
			await watcher.connect();
			try {
				const waiting = async () =>
					(
						await watcher.query<{ waiting: number }>(
							`SELECT COUNT(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
						)
					).rows[0].waiting;
				await waitFor(async () => (await waiting()) === 1, { what: "the second transaction waiting for the first" });
			} finally {
				await watcher.end();
			}
		}
		release();
		await Promise.all([first, second]);
		expect((await list({ error: "(twice)" })).total).toBe(1);
	});
}

describe("on SQLite", () => {
	const dir = tempDataDir();
	afterAll(() => removeDir(dir));
	storeTests(async () => `sqlite:${path.join(dir, "goals.sqlite")}`);
});

describeWithInfra(["postgres"], "on PostgreSQL", () => {
	const name = uniqueName("dead_letters");
	afterAll(() => dropDatabase(name));
	storeTests(() => createDatabase(name));
});
