/**
 * A live batch on PostgreSQL ends with its save (lib/consumer/live-apply.ts; Closing in
 * lib/storage/copy-table.ts). The goal service's client copy: BEGIN with the copies held (locked),
 * then the save, the goals' names, the checkpoint's move and COMMIT in one message, two round
 * trips where it took three; a goal created while a rename waits for the copy's lock gets the new
 * name. The client service's goal copy: the whole batch as one statement, one round trip. Where
 * something must run after the save (a tombstone's cascade, failures to record, a failure streak
 * to reset) the batch takes the statements it took before. The real engines, projections and
 * stores on real PostgreSQL databases; round trips counted at pg's Client.
 */
import { Checkpoints } from "../../lib/consumer/checkpoints";
import { SOURCES } from "../../lib/constants";
import { CONSUMER_POLICY, ConsumerEngine } from "../../lib/consumer/engine";
import { PauseStore } from "../../lib/consumer/pauses";
import { RETRY_POLICY, RetryStore } from "../../lib/consumer/retries";
import type { ClientEvent, GoalEvent } from "../../lib/domain/events";
import type { Effects } from "../../lib/event-log/effects";
import { EventLog } from "../../lib/event-log/event-log";
import { ClientProjection } from "../../lib/goals/client-projection";
import { GoalStore } from "../../lib/goals/goal-store";
import { ClientStore } from "../../lib/clients/client-store";
import { GoalProjection } from "../../lib/clients/goal-projection";
import { cacheKeys } from "../../lib/infra/cache-keys";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { sqlTime } from "../../lib/storage/sql";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { quietReport } from "../helpers/consumer-report";
import { clientEventsAt, seedCopiesAndGoals } from "../helpers/goal-seed";
import { countPgRoundTrips, type RoundTrips } from "../helpers/pg-round-trips";
import { waitFor } from "../helpers/wait";

const clientEvent = clientEventsAt("live.test");

describeWithInfra(["postgres"], "a live batch on PostgreSQL, ended by its save", () => {
	const name = uniqueName("live_apply");
	const HOUR = 3_600_000;
	let db: Database;
	let engine: ConsumerEngine<ClientEvent>;
	let pauses: PauseStore;
	let checkpoints: Checkpoints;
	const settled: Effects[] = [];
	const counts = { applied: 0, stale: 0, failed: 0 };
	const errors: string[] = [];
	/** statements sent by the engine's connections (pg sends one and waits for its answer: a round trip each) */
	let roundTrips: RoundTrips | undefined;

	/** A replica's engine on the shared database, counting what it applied into `into`. */
	function replica(into: typeof counts): ConsumerEngine<ClientEvent> {
		const count = (key: keyof typeof counts) => (n: number) => {
			into[key] += n;
		};
		const report = quietReport({
			applied: count("applied"),
			stale: count("stale"),
			failed: count("failed"),
			error: (message, err) => errors.push(`${message} ${String(err)}`),
		});
		return new ConsumerEngine<ClientEvent>({
			producer: SOURCES.clients,
			db,
			projection: new ClientProjection(new GoalStore(db), new EventLog<GoalEvent>(db, SOURCES.goals)),
			checkpoints,
			retries: new RetryStore(db, "goals", RETRY_POLICY),
			pauses: new PauseStore(db, "goals"),
			// the log is never read here: no gap lasts long enough (the grace is an hour)
			readLog: async () => ({ events: [], lastSequence: 0 }),
			settle: async (effects) => {
				settled.push(effects);
			},
			report,
			// one lane, and no timer of the engine's own sends a statement during a test
			policy: { ...CONSUMER_POLICY, partitions: 1, gapGraceMs: HOUR, retryPollMs: HOUR, retryIdleLookMs: HOUR, pauseLookMs: HOUR },
		});
	}

	beforeAll(async () => {
		db = new Database(await createDatabase(name), { schema: serviceSchema(SOURCES.goals) });
		await db.open();
		checkpoints = new Checkpoints(db);
		await checkpoints.ensure(SOURCES.clients);
		pauses = new PauseStore(db, "goals");
		engine = replica(counts);
		await engine.start(HOUR, () => undefined);

		// given copies of clients 1 ("Old", v1) and 2 ("Two", v1), each with two goals
		await db.transaction(async (sql) => {
			await seedCopiesAndGoals(
				sql,
				[
					{ clientId: 1, name: "Old", email: "c1@live.test", version: 1 },
					{ clientId: 2, name: "Two", email: "c2@live.test", version: 1 },
				],
				[
					{ id: 11, clientId: 1, clientName: "Old" },
					{ id: 12, clientId: 1, clientName: "Old" },
					{ id: 21, clientId: 2, clientName: "Two" },
					{ id: 22, clientId: 2, clientName: "Two" },
				],
			);
		});

		roundTrips = countPgRoundTrips();
	});

	afterAll(async () => {
		roundTrips?.restore();
		await engine?.stop();
		await db?.sequelize.close();
		await dropDatabase(name);
	});

	beforeEach(() => {
		settled.length = 0;
		Object.assign(counts, { applied: 0, stale: 0, failed: 0 });
	});
	afterEach(() => expect(errors).toEqual([]));

	const checkpoint = async () =>
		Number((await db.read<{ sequence: number }>(`SELECT "sequence" FROM checkpoints WHERE "producer" = ?`, [SOURCES.clients]))[0].sequence);
	const goalNames = async () => {
		const rows = await db.read<{ id: number; clientName: string; deletedAt: unknown }>(`SELECT "id", "clientName", "deletedAt" FROM goals ORDER BY "id"`);
		return rows.map((row) => [Number(row.id), row.clientName, row.deletedAt === null ? "alive" : "deleted"]);
	};
	/** The engine's round trips for `work` (a test's own reads are counted after it). */
	const tripsOf = async (work: () => Promise<unknown>): Promise<number> => {
		const before = roundTrips?.count ?? 0;
		await work();
		return (roundTrips?.count ?? 0) - before;
	};

	test("given a rename, when it arrives live, then copy, goals' names and checkpoint commit together in two round trips", async () => {
		const rename = clientEvent(1, 2, "New One");
		const trips = await tripsOf(() => engine.live(rename));
		expect(trips).toBe(2);
		expect(await checkpoint()).toBe(rename.sequence);
		expect(await goalNames()).toEqual([
			[11, "New One", "alive"],
			[12, "New One", "alive"],
			[21, "Two", "alive"],
			[22, "Two", "alive"],
		]);
		expect(counts).toEqual({ applied: 1, stale: 0, failed: 0 });
		expect(settled.flatMap((effects) => effects.cacheKeys).sort()).toEqual(
			[cacheKeys.entity("goals", 11), cacheKeys.entity("goals", 12), cacheKeys.lists("goals")].sort(),
		);
	});

	test("given two renames of a client and a stale one of another in one batch, when they arrive live, then the newest name is kept, the stale one skipped, in two round trips", async () => {
		const first = clientEvent(1, 3, "Newer One");
		const second = clientEvent(1, 4, "Newest One");
		const stale = clientEvent(2, 1, "Two, Stale");
		const trips = await tripsOf(() => Promise.all([engine.live(first), engine.live(second), engine.live(stale)]));
		expect(trips).toBe(2);
		expect(counts).toEqual({ applied: 2, stale: 1, failed: 0 });
		expect(await checkpoint()).toBe(stale.sequence);
		expect(await goalNames()).toEqual([
			[11, "Newest One", "alive"],
			[12, "Newest One", "alive"],
			[21, "Two", "alive"],
			[22, "Two", "alive"],
		]);
	});

	test("given goals already named as a new copy says, when it arrives live, then no goal is written and nothing is evicted", async () => {
		const sameName = clientEvent(1, 5, "Newest One");
		await engine.live(sameName);
		expect(counts).toEqual({ applied: 1, stale: 0, failed: 0 });
		expect(settled.flatMap((effects) => effects.cacheKeys)).toEqual([]);
		expect(await checkpoint()).toBe(sameName.sequence);
	});

	test("given a rename committed, when it is delivered again (a crash before its ack), then nothing is written twice and the checkpoint stays", async () => {
		const again = clientEvent(1, 6, "Sixth");
		await engine.live(again);
		const before = await goalNames();
		const position = await checkpoint();
		expect(position).toBe(again.sequence);

		Object.assign(counts, { applied: 0, stale: 0, failed: 0 });
		settled.length = 0;
		await engine.live(again);
		expect(counts).toEqual({ applied: 0, stale: 1, failed: 0 });
		expect(await goalNames()).toEqual(before);
		expect(await checkpoint()).toBe(position);
		expect(settled.flatMap((effects) => effects.cacheKeys)).toEqual([]);
	});

	test("given a batch whose second event cannot be saved, when it arrives live, then only that event fails, the first is applied, and the checkpoint passes both", async () => {
		const good = clientEvent(2, 2, "Two Renamed");
		const bad = clientEvent(1, 7, "x".repeat(101)); // longer than the copy's column: PostgreSQL refuses the save
		const delivered = Promise.all([engine.live(good), engine.live(bad)]);
		expect(await delivered).toEqual(["taken", "taken"]);
		expect(counts).toEqual({ applied: 1, stale: 0, failed: 1 });
		expect(await checkpoint()).toBe(bad.sequence);
		expect((await goalNames()).filter(([id]) => id === 21 || id === 22)).toEqual([
			[21, "Two Renamed", "alive"],
			[22, "Two Renamed", "alive"],
		]);
		const retries = await db.read<{ sequence: number; status: string }>(`SELECT "sequence", "status" FROM event_retries ORDER BY "id"`);
		expect(retries.map((row) => [Number(row.sequence), row.status])).toEqual([[bad.sequence, "pending"]]);
		expect((await pauses.read()).failures).toBe(1);
	});

	test("given a failure counted, when the next batch succeeds, then the streak is reset in its transaction (the checkpoint then has a statement of its own)", async () => {
		const rename = clientEvent(2, 3, "Two Again");
		// BEGIN with the held copy; the save; the streak's reset; the checkpoint with COMMIT
		const trips = await tripsOf(() => engine.live(rename));
		expect(trips).toBe(4);
		expect((await pauses.read()).failures).toBe(0);
		expect(await checkpoint()).toBe(rename.sequence);
		// and with nothing left to reset, the next one is two round trips again
		expect(await tripsOf(() => engine.live(clientEvent(2, 4, "Two Once More")))).toBe(2);
	});

	test("given a goal being created under the copy's lock, when a rename arrives meanwhile, then it waits, and the new goal gets the new name too", async () => {
		let release: () => void = () => undefined;
		const gate = new Promise<void>((resolve) => (release = resolve));
		let locked = false;
		// goal creation as the goal service does it: the copy read locked, the goal written with its name
		const creation = db.transaction(async (sql) => {
			const [copy] = await sql.all<{ name: string }>(`SELECT "name" FROM client_projection WHERE "clientId" = ? FOR UPDATE`, [1]);
			const now = sqlTime(sql, new Date());
			await sql.run(
				`INSERT INTO goals ("id", "clientId", "clientName", "goalName", "targetCents", "version", "deletedAt", "createdAt", "updatedAt")
				 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				[13, 1, copy.name, "Goal 13", 100, 1, null, now, now],
			);
			locked = true;
			await gate;
		});
		await waitFor(() => locked, { what: "the creation to hold the copy's lock" });
		const applying = engine.live(clientEvent(1, 8, "Raced"));
		const waiting = async () =>
			(await db.read<{ n: number }>(`SELECT count(*)::int AS "n" FROM pg_stat_activity WHERE "datname" = current_database() AND "wait_event_type" = 'Lock'`))[0]
				.n > 0;
		await waitFor(waiting, { what: "the rename to wait for the copy's lock" });
		release();
		await creation;
		expect(await applying).toBe("taken");
		expect((await goalNames()).filter(([id]) => id === 11 || id === 12 || id === 13)).toEqual([
			[11, "Raced", "alive"],
			[12, "Raced", "alive"],
			[13, "Raced", "alive"],
		]);
	});

	test("given a tombstone, when it arrives live, then its goals are deleted with their events and the checkpoint moves after them", async () => {
		const tombstone = clientEvent(2, 5, "Two Once More", "DELETED");
		await engine.live(tombstone);
		expect(counts).toEqual({ applied: 1, stale: 0, failed: 0 });
		expect(await checkpoint()).toBe(tombstone.sequence);
		expect((await goalNames()).filter(([id]) => id === 21 || id === 22)).toEqual([
			[21, "Two Once More", "deleted"],
			[22, "Two Once More", "deleted"],
		]);
		const events = settled.flatMap((effects) => effects.events as GoalEvent[]);
		expect(events.map((event) => [event.eventType, event.goalId])).toEqual([
			["DELETED", 21],
			["DELETED", 22],
		]);
	});

	test("given two replicas on one database, when they take a client's renames and a new client's events in turns, all at once, then each copy ends at its newest version with its goals named so, and nothing fails", async () => {
		const other = replica({ applied: 0, stale: 0, failed: 0 });
		await other.start(HOUR, () => undefined);
		try {
			const events: ClientEvent[] = [];
			for (let version = 8; version <= 27; version++) {
				events.push(clientEvent(1, version, `One v${version}`));
				events.push(clientEvent(3, version - 7, `Three v${version - 7}`));
			}
			await Promise.all(events.map((event, i) => (i % 2 === 0 ? engine : other).live(event)));
			const copies = await db.read<{ clientId: number; name: string; version: number }>(
				`SELECT "clientId", "name", "version" FROM client_projection WHERE "clientId" IN (1, 3) ORDER BY "clientId"`,
			);
			expect(copies.map((copy) => [Number(copy.clientId), copy.name, Number(copy.version)])).toEqual([
				[1, "One v27", 27],
				[3, "Three v20", 20],
			]);
			expect((await goalNames()).filter(([id]) => id === 11 || id === 12)).toEqual([
				[11, "One v27", "alive"],
				[12, "One v27", "alive"],
			]);
		} finally {
			await other.stop();
		}
	});
});

describeWithInfra(["postgres"], "a live batch of the client service's goal copy on PostgreSQL, as one statement", () => {
	const name = uniqueName("live_goal_copy");
	const HOUR = 3_600_000;
	let db: Database;
	let engine: ConsumerEngine<GoalEvent>;
	const settled: Effects[] = [];
	const errors: string[] = [];
	let roundTrips: RoundTrips | undefined;

	beforeAll(async () => {
		db = new Database(await createDatabase(name), { schema: serviceSchema(SOURCES.clients) });
		await db.open();
		const checkpoints = new Checkpoints(db);
		await checkpoints.ensure(SOURCES.goals);
		engine = new ConsumerEngine<GoalEvent>({
			producer: SOURCES.goals,
			db,
			projection: new GoalProjection(new ClientStore(db)),
			checkpoints,
			retries: new RetryStore(db, "clients", RETRY_POLICY),
			pauses: new PauseStore(db, "clients"),
			readLog: async () => ({ events: [], lastSequence: 0 }),
			settle: async (effects) => {
				settled.push(effects);
			},
			report: quietReport({ error: (message, err) => errors.push(`${message} ${String(err)}`) }),
			policy: { ...CONSUMER_POLICY, partitions: 1, gapGraceMs: HOUR, retryPollMs: HOUR, retryIdleLookMs: HOUR, pauseLookMs: HOUR },
		});
		await engine.start(HOUR, () => undefined);
		roundTrips = countPgRoundTrips();
	});

	afterAll(async () => {
		roundTrips?.restore();
		await engine?.stop();
		await db?.sequelize.close();
		await dropDatabase(name);
	});

	test("given a goal's creation and then its rename, when each arrives live, then each is one round trip: copy, checkpoint and COMMIT", async () => {
		const goalEvent = (sequence: number, version: number, goalName: string): GoalEvent => ({
			eventId: `00000000-0000-4000-9000-${String(sequence).padStart(12, "0")}`,
			eventType: version === 1 ? "CREATED" : "UPDATED",
			source: SOURCES.goals,
			timestamp: new Date().toISOString(),
			sequence,
			version,
			goalId: 7,
			clientId: 3,
			goalName,
			targetAmount: 250,
		});
		for (const [sequence, version, goalName] of [
			[1, 1, "House"],
			[2, 2, "Bigger House"],
		] as const) {
			const before = roundTrips?.count ?? 0;
			expect(await engine.live(goalEvent(sequence, version, goalName))).toBe("taken");
			expect((roundTrips?.count ?? 0) - before).toBe(1);
		}
		const [copy] = await db.read<{ goalName: string; version: number }>(`SELECT "goalName", "version" FROM goal_projection WHERE "goalId" = 7`);
		expect([copy.goalName, Number(copy.version)]).toEqual(["Bigger House", 2]);
		const [checkpoint] = await db.read<{ sequence: number }>(`SELECT "sequence" FROM checkpoints WHERE "producer" = ?`, [SOURCES.goals]);
		expect(Number(checkpoint.sequence)).toBe(2);
		expect(settled.flatMap((effects) => effects.cacheKeys)).toContain(cacheKeys.entity("clients", 3));
		expect(errors).toEqual([]);
	});
});
