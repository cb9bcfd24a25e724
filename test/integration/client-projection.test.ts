/**
 * The goal service's copy of clients, applied by batch (lib/goals/client-projection.ts): a new
 * name reaches the client's goals, a stale event changes nothing, and the goals touched are the
 * cache keys to evict. On PostgreSQL the names travel with the copies' save in one statement
 * (lib/storage/copy-table.ts, WithSaved); on SQLite they are a statement of their own. The same
 * cases on a real SQLite file and a real PostgreSQL database.
 */
import path from "node:path";
import { SOURCES } from "../../lib/constants";
import type { ClientEvent, GoalEvent } from "../../lib/domain/events";
import { EventLog } from "../../lib/event-log/event-log";
import { ClientProjection } from "../../lib/goals/client-projection";
import { GoalStore } from "../../lib/goals/goal-store";
import { cacheKeys } from "../../lib/infra/cache-keys";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { clientEventsAt, seedCopiesAndGoals } from "../helpers/goal-seed";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { removeDir, tempDataDir } from "../helpers/system";

const clientUpdated = clientEventsAt("projection.test");

function projectionCases(open: () => Promise<Database>): void {
	let db: Database;
	let projection: ClientProjection;

	beforeAll(async () => {
		db = await open();
		const store = new GoalStore(db);
		projection = new ClientProjection(store, new EventLog<GoalEvent>(db, SOURCES.goals));
	});
	afterAll(() => db?.close());

	/** given copies of clients 1 (v1 "Old") and 2 (v3 "Newer"), none of 3, and two goals each */
	beforeEach(async () => {
		await db.transaction(async (sql) => {
			await sql.run("DELETE FROM goals");
			await sql.run("DELETE FROM event_log");
			await sql.run("DELETE FROM client_projection");
			await seedCopiesAndGoals(
				sql,
				[
					{ clientId: 1, name: "Old", email: "c1@projection.test", version: 1 },
					{ clientId: 2, name: "Newer", email: "c2@projection.test", version: 3 },
				],
				[
					{ id: 11, clientId: 1, clientName: "Old" },
					{ id: 12, clientId: 1, clientName: "Old" },
					{ id: 21, clientId: 2, clientName: "Newer" },
					{ id: 22, clientId: 2, clientName: "Newer" },
					{ id: 31, clientId: 3, clientName: "Unknown" },
				],
			);
		});
	});

	const names = async (): Promise<Record<number, string>> => {
		const rows = await db.read<{ id: number; clientName: string }>(`SELECT "id", "clientName" FROM goals ORDER BY "id"`);
		return Object.fromEntries(rows.map((row) => [Number(row.id), row.clientName]));
	};

	test("given an older copy, a newer one and none, when a rename of each arrives, then only the applied ones reach the goals and their cache keys", async () => {
		const events = [clientUpdated(1, 2, "New One"), clientUpdated(2, 2, "Stale Two"), clientUpdated(3, 1, "First Three")];
		const result = await db.transaction((sql) => projection.applyBatch(sql, events));

		expect(result.applied.map((event) => event.clientId).sort()).toEqual([1, 3]);
		expect(result.stale.map((event) => event.clientId)).toEqual([2]);
		expect(await names()).toEqual({ 11: "New One", 12: "New One", 21: "Newer", 22: "Newer", 31: "First Three" });
		expect([...result.effects.cacheKeys].sort()).toEqual(
			[cacheKeys.entity("goals", 11), cacheKeys.entity("goals", 12), cacheKeys.entity("goals", 31), cacheKeys.lists("goals")].sort(),
		);
	});

	test("given a copy, when an event changes only the email, then no goal is touched and nothing is evicted", async () => {
		const result = await db.transaction((sql) => projection.applyBatch(sql, [clientUpdated(1, 2, "Old")]));
		expect(result.applied).toHaveLength(1);
		expect(await names()).toEqual({ 11: "Old", 12: "Old", 21: "Newer", 22: "Newer", 31: "Unknown" });
		expect(result.effects.cacheKeys).toEqual([]);
	});

	test("given a copy with two living goals, when its client is deleted, then each goal is deleted as its own DELETE would be, with its event", async () => {
		const tombstone = { ...clientUpdated(1, 2, "Old"), eventType: "DELETED" } as ClientEvent;
		const stale = { ...clientUpdated(2, 2, "Newer"), eventType: "DELETED" } as ClientEvent;
		const result = await db.transaction((sql) => projection.applyBatch(sql, [tombstone, stale]));

		expect(result.applied).toEqual([tombstone]);
		const goals = await db.read<{ id: number; version: number; deletedAt: unknown }>(`SELECT "id", "version", "deletedAt" FROM goals ORDER BY "id"`);
		expect(goals.map((goal) => [Number(goal.id), Number(goal.version), goal.deletedAt !== null])).toEqual([
			[11, 2, true],
			[12, 2, true],
			[21, 1, false],
			[22, 1, false],
			[31, 1, false],
		]);
		const events = result.effects.events as GoalEvent[];
		expect(events.map((event) => [event.eventType, event.goalId, event.version])).toEqual([
			["DELETED", 11, 2],
			["DELETED", 12, 2],
		]);
		expect(new Set(events.map((event) => event.eventId)).size).toBe(2);
		const logged = await db.read<{ entityId: number; version: number; eventType: string }>(
			`SELECT "entityId", "version", "eventType" FROM event_log WHERE "entityId" IN (11, 12) ORDER BY "sequence"`,
		);
		expect(logged.map((row) => [Number(row.entityId), Number(row.version), row.eventType])).toEqual([
			[11, 2, "DELETED"],
			[12, 2, "DELETED"],
		]);
		expect([...result.effects.cacheKeys].sort()).toEqual([cacheKeys.entity("goals", 11), cacheKeys.entity("goals", 12), cacheKeys.lists("goals")].sort());
	});

	test("given a batch that fails after the rename, when its transaction is undone, then the goals keep their names", async () => {
		const failing = db.transaction(async (sql) => {
			await projection.applyBatch(sql, [clientUpdated(1, 2, "Never")]);
			throw new Error("the batch failed after its rename");
		});
		await expect(failing).rejects.toThrow("after its rename");
		expect((await names())[11]).toBe("Old");
	});
}

describe("client copies on SQLite", () => {
	const dir = tempDataDir();
	afterAll(() => removeDir(dir));
	projectionCases(async () => {
		const db = new Database(`sqlite:${path.join(dir, "goals.sqlite")}`, { schema: serviceSchema(SOURCES.goals) });
		await db.open();
		return db;
	});
});

describeWithInfra(["postgres"], "client copies on PostgreSQL", () => {
	const name = uniqueName("client_copies");
	let opened: Database | undefined;
	afterAll(async () => {
		await opened?.sequelize.close();
		await dropDatabase(name);
	});
	projectionCases(async () => {
		opened = new Database(await createDatabase(name), { schema: serviceSchema(SOURCES.goals) });
		await opened.open();
		return opened;
	});
});
