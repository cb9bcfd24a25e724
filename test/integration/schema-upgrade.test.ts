/**
 * A database made by an earlier version opens with the columns added since (migration 002; the
 * baseline only creates missing tables): the event log of before `requestId` gains it, nullable,
 * its old rows are read as before (no request known), and new rows keep their request id; on
 * PostgreSQL it gains the snapshot's (entityId, sequence) index (migration 001 makes missing
 * indexes), and its snapshot reads as any other. Real SQLite file and real PostgreSQL.
 */
import path from "node:path";
import { QueryTypes } from "sequelize";
import { SOURCES } from "../../lib/constants";
import { causeOf } from "../../lib/domain/caused-by";
import type { ClientEvent } from "../../lib/domain/events";
import { EventLog } from "../../lib/event-log/event-log";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { removeDir, tempDataDir } from "../helpers/system";

/** The event log as the version before request ids made it, with one row. */
const OLD_EVENT_LOG = [
	`CREATE TABLE event_log ("sequence" SERIAL PRIMARY KEY, "eventId" VARCHAR(36) NOT NULL UNIQUE, "eventType" VARCHAR(16) NOT NULL,
	 "entityId" INTEGER NOT NULL, "version" INTEGER NOT NULL, "payload" TEXT NOT NULL, "timestamp" VARCHAR(32) NOT NULL)`,
	`INSERT INTO event_log ("eventId", "eventType", "entityId", "version", "payload", "timestamp")
	 VALUES ('00000000-0000-4000-8000-000000000001', 'CREATED', 1, 1, '{"clientId":1,"clientName":"Old","clientEmail":"old@example.com"}', '2026-01-01T00:00:00.000Z')`,
];

async function upgradeAndAppend(uri: string, oldSchema: string[]): Promise<void> {
	const before = new Database(uri);
	for (const statement of oldSchema) await before.sequelize.query(statement);
	await before.sequelize.close();

	const db = new Database(uri, { schema: serviceSchema(SOURCES.clients) });
	const log = new EventLog<ClientEvent>(db, SOURCES.clients);
	try {
		await db.open();
		const added = await db.transaction((sql) =>
			log.append(sql, "UPDATED", 1, 2, { clientId: 1, clientName: "New", clientEmail: "old@example.com" }, "upgrade-check-1"),
		);
		expect(added.sequence).toBe(2);
		const page = await log.readAfter(0, 10);
		expect(page.events.map((event) => [event.sequence, event.clientName, causeOf(event) ?? null])).toEqual([
			[1, "Old", null],
			[2, "New", "upgrade-check-1"],
		]);
		expect(page.requestIds).toEqual({ [added.eventId]: "upgrade-check-1" });
		// the event's JSON stays the contract's: the request id is beside it, not in it
		expect(Object.keys(added)).not.toContain("requestId");
		// the snapshot's index is added too (PostgreSQL)
		if (db.dialect === "postgres") {
			const indexes = await db.sequelize.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'event_log'", {
				type: QueryTypes.SELECT,
			});
			expect(indexes.map((index) => index.indexname)).toContain("event_log_entity_id_sequence");
		}
		const snapshot = await log.snapshot(undefined, 0, 10);
		expect(snapshot).toMatchObject({ atSequence: 2, total: 1, next: null });
		expect(snapshot.events.map((event) => [event.sequence, event.clientName])).toEqual([[2, "New"]]);
	} finally {
		await db.close();
		await db.sequelize.close();
	}
}

test("SQLite: an event log from before request ids gains the column and keeps its rows", async () => {
	const dir = tempDataDir();
	try {
		await upgradeAndAppend(
			`sqlite:${path.join(dir, "clients.sqlite")}`,
			OLD_EVENT_LOG.map((statement) => statement.replace("SERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")),
		);
	} finally {
		removeDir(dir);
	}
});

describeWithInfra(["postgres"], "PostgreSQL schema upgrade", () => {
	const name = uniqueName("schema_upgrade");
	afterAll(() => dropDatabase(name));

	test("an event log from before request ids gains the column and keeps its rows", async () => {
		await upgradeAndAppend(await createDatabase(name), OLD_EVENT_LOG);
	});
});
