/**
 * A write's change rides with its event's append (lib/event-log/entity-write.ts): on PostgreSQL
 * the change, the request's key and the event are one statement with the COMMIT, the event and
 * the key appended only from the row the change wrote. What must hold either way, on a real
 * SQLite file and a real PostgreSQL database: a change whose version moved stores nothing (no
 * event, no key) and answers 409; a change a unique index refuses answers as the store says (the
 * email taken: 409); a change that holds is stored with its event. On PostgreSQL a change of a
 * client costs two round trips (BEGIN with the held client; the rest), where it took three.
 */
import path from "node:path";
import { ClientStore, clientEventFields } from "../../lib/clients/client-store";
import { SOURCES } from "../../lib/constants";
import type { ClientEvent } from "../../lib/domain/events";
import { EventLog } from "../../lib/event-log/event-log";
import { RequestKeys } from "../../lib/event-log/request-keys";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import type { Sql } from "../../lib/storage/sql";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { countPgRoundTrips } from "../helpers/pg-round-trips";
import { removeDir, tempDataDir } from "../helpers/system";

function entityWriteCases(open: () => Promise<Database>): void {
	let db: Database;
	let store: ClientStore;
	let log: EventLog<ClientEvent>;
	let keys: RequestKeys;

	beforeAll(async () => {
		db = await open();
		store = new ClientStore(db);
		log = new EventLog<ClientEvent>(db, SOURCES.clients);
		keys = new RequestKeys(db);
	});
	afterAll(() => db?.close());

	const newClient = (name: string, email: string) =>
		db.transaction(async (sql) => {
			const { row, event } = await store.create(sql, { name, email });
			await log.appendDecided(sql, row.id, event, clientEventFields(row), { last: true });
			return row.id;
		});
	const eventsOf = async (id: number) =>
		(await db.read<{ version: number }>(`SELECT "version" FROM event_log WHERE "entityId" = ? ORDER BY "sequence"`, [id])).map((row) => Number(row.version));
	const stored = async (id: number) =>
		(await db.read<{ name: string; email: string; version: number }>(`SELECT "name", "email", "version" FROM clients WHERE "id" = ?`, [id]))[0];

	/** Change client `id` as clients.update does, with `meanwhile` run in the same transaction after the decision and before the append. */
	const update = (id: number, changes: { name?: string; email?: string }, meanwhile: (sql: Sql) => Promise<unknown>, key?: string) =>
		db.transaction(async (sql) => {
			const decided = await store.update(sql, { id, ...changes });
			await meanwhile(sql);
			return log.appendDecided(sql, id, decided.event, clientEventFields(decided.row), {
				last: true,
				entityWrite: decided.write,
				remember: key ? { keys, request: { key, paramsHash: "h" }, answer: decided.client } : undefined,
			});
		});

	test("given a change that holds, when it is appended, then the client and its event are stored, versions alike", async () => {
		const id = await newClient("Ada", "ada@entity.test");
		const event = await update(id, { name: "Ada Two" }, async () => undefined, "request:ada-1");
		expect(event.version).toBe(2);
		expect(await stored(id)).toMatchObject({ name: "Ada Two", version: 2 });
		expect(await eventsOf(id)).toEqual([1, 2]);
		expect(await keys.recall("request:ada-1")).not.toBeNull();
	});

	test("given a change whose version moved before its append, when it is appended, then 409 and no event, no key, no change of its own", async () => {
		const id = await newClient("Bo", "bo@entity.test");
		const moved = update(id, { name: "Bo Two" }, (sql) => sql.run(`UPDATE clients SET "version" = "version" + 1 WHERE "id" = ?`, [id]), "request:bo-1");
		await expect(moved).rejects.toMatchObject({ code: 409, type: "CONFLICT", message: `Client ${id} was changed by another write meanwhile; try again` });
		expect((await stored(id)).name).toBe("Bo");
		expect(await eventsOf(id)).toEqual([1]);
		expect(await keys.recall("request:bo-1")).toBeNull();
	});

	test("given an email another client took after the decision, when the change is appended, then the store's 409 (email taken) and nothing stored", async () => {
		const id = await newClient("Cy", "cy@entity.test");
		const taken = update(id, { email: "taken@entity.test" }, (sql) =>
			sql.run(`INSERT INTO clients ("name", "email", "emailKey", "version", "createdAt", "updatedAt") VALUES (?, ?, ?, 1, ?, ?)`, [
				"Other",
				"taken@entity.test",
				"taken@entity.test",
				sql.dialect === "postgres" ? new Date() : new Date().toISOString(),
				sql.dialect === "postgres" ? new Date() : new Date().toISOString(),
			]),
		);
		await expect(taken).rejects.toMatchObject({ code: 409, message: "A client with email 'taken@entity.test' already exists" });
		expect((await stored(id)).email).toBe("cy@entity.test");
		expect(await eventsOf(id)).toEqual([1]);
	});
}

describe("a change appended with its event, on SQLite", () => {
	const dir = tempDataDir();
	afterAll(() => removeDir(dir));
	entityWriteCases(async () => {
		const db = new Database(`sqlite:${path.join(dir, "clients.sqlite")}`, { schema: serviceSchema(SOURCES.clients) });
		await db.open();
		return db;
	});
});

describeWithInfra(["postgres"], "a change appended with its event, on PostgreSQL", () => {
	const name = uniqueName("entity_write");
	let opened: Database | undefined;
	afterAll(async () => {
		await opened?.sequelize.close();
		await dropDatabase(name);
	});
	entityWriteCases(async () => {
		opened = new Database(await createDatabase(name), { schema: serviceSchema(SOURCES.clients) });
		await opened.open();
		return opened;
	});

	test("given a change of a client, when it runs as clients.update does, then it costs two round trips", async () => {
		const db = opened as Database;
		const store = new ClientStore(db);
		const log = new EventLog<ClientEvent>(db, SOURCES.clients);
		const id = await db.transaction(async (sql) => {
			const { row, event } = await store.create(sql, { name: "Di", email: "di@entity.test" });
			await log.appendDecided(sql, row.id, event, clientEventFields(row), { last: true });
			return row.id;
		});
		const trips = countPgRoundTrips();
		try {
			await db.transaction(async (sql) => {
				const decided = await store.update(sql, { id, name: "Di Two" });
				await log.appendDecided(sql, id, decided.event, clientEventFields(decided.row), { last: true, entityWrite: decided.write });
			});
		} finally {
			trips.restore();
		}
		expect(trips.count).toBe(2);
		const [row] = await db.read<{ name: string; version: number }>(`SELECT "name", "version" FROM clients WHERE "id" = ?`, [id]);
		expect([row.name, Number(row.version)]).toEqual(["Di Two", 2]);
	});
});
