/**
 * A database made by commit 1d8a008 (test/fixtures/seed-1d8a008/: its own output, SQLite files
 * and PostgreSQL dumps) is upgraded in place by today's code at start: every row of every table
 * and every event is kept (each table's contents equal before and after, the event logs'
 * sequences too), the schema ends as a fresh database's, reads and writes work after, and a
 * second start applies nothing. Real SQLite files, real PostgreSQL, real ServiceBrokers.
 */
import { copyFileSync, readFileSync } from "node:fs";
import path from "node:path";
import { Client } from "pg";
import { QueryTypes, Sequelize } from "sequelize";
import { SOURCES, type Source } from "../../lib/constants";
import { indexedFields } from "../../lib/consumer/dead-letter-query";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { client } from "../helpers/http";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { contents, type SchemaShape, schemaShape } from "../helpers/schema";
import { removeDir, startSystem, tempDataDir } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const FIXTURES = path.join(__dirname, "../fixtures/seed-1d8a008");
const OWNERS = [SOURCES.clients, SOURCES.goals] as const;

type Uris = Record<Source, string>;
type Contents = Awaited<ReturnType<typeof contents>>;

function open(uri: string): Sequelize {
	return uri.startsWith("sqlite:")
		? new Sequelize({ dialect: "sqlite", storage: uri.slice("sqlite:".length), logging: false })
		: new Sequelize(uri, { logging: false });
}

async function read<T>(uri: string, work: (sequelize: Sequelize) => Promise<T>): Promise<T> {
	const sequelize = open(uri);
	try {
		return await work(sequelize);
	} finally {
		await sequelize.close();
	}
}

/** The schema a fresh database of `owner` gets from the migrations (schema_migrations aside). */
async function freshShape(owner: Source, uri: string): Promise<SchemaShape> {
	const db = new Database(uri, { schema: serviceSchema(owner) });
	await db.open();
	await db.close();
	await db.sequelize.close();
	const { schema_migrations: _, ...shape } = await read(uri, schemaShape);
	return shape;
}

/**
 * The upgrade, the same for both dialects. `fresh(owner)`: the URI of an empty database to compare
 * the schema with.
 */
async function upgradeKeepsEverything(uris: Uris, fresh: (owner: Source) => Promise<string>, env: Record<string, string>, dataDir: string): Promise<void> {
	const before = {} as Record<Source, Contents>;
	for (const owner of OWNERS) before[owner] = await read(uris[owner], (s) => contents(s));
	// the story is there: both logs, copies, dead letters
	expect(before.clients.event_log.length).toBeGreaterThan(0);
	expect(before.goals.event_log.length).toBeGreaterThan(0);
	expect(before.goals.client_projection.length).toBeGreaterThan(0);
	expect(before.clients.goal_projection.length).toBeGreaterThan(0);
	expect(before.clients.event_retries.length + before.goals.event_retries.length).toBeGreaterThan(0);

	const system = await startSystem({ dataDir, env: { CLIENTS_DB_URI: uris.clients, GOALS_DB_URI: uris.goals, ...env } });
	const api = client(system.url);
	try {
		for (const owner of OWNERS) {
			const after = await read(uris[owner], (s) => contents(s));
			// every table of before, row for row (its columns of before: a migration may add some);
			// a table a migration added is empty
			for (const table of Object.keys(before[owner])) {
				const columns = (rows: Record<string, unknown>[]) => Object.keys(rows[0] ?? {});
				const kept = after[table].map((row) => Object.fromEntries(columns(before[owner][table]).map((column) => [column, row[column]])));
				expect({ table, rows: before[owner][table].length > 0 ? kept : after[table] }).toEqual({ table, rows: before[owner][table] });
			}
			// 003: the dead letters of before are found by their event's type and entity id, as new ones are; nothing else is set
			for (const row of after.event_retries as Array<Record<string, unknown>>) {
				const { eventType, entityId } = indexedFields(row.producer as Source, JSON.parse(String(row.payload)));
				expect({ id: row.id, eventType: row.eventType, entityId: row.entityId === null ? null : Number(row.entityId) }).toEqual({
					id: row.id,
					eventType,
					entityId,
				});
				expect([row.original, row.editedAt, row.editedBy, row.revivedAt, row.settledAt]).toEqual([null, null, null, null, null]);
			}
			expect((after.event_retries as Array<Record<string, unknown>>).some((row) => row.eventType !== null && row.entityId !== null)).toBe(true);
			for (const table of Object.keys(after).filter((name) => !(name in before[owner]) && name !== "schema_migrations")) {
				expect({ table, rows: after[table] }).toEqual({ table, rows: [] });
			}
			expect(after.schema_migrations.map((row) => `${row.id} ${row.name}`)).toEqual(["1 baseline", "2 request-ids", "3 operating-consumers"]);
			// the same schema as a fresh database's
			const { schema_migrations: _, ...shape } = await read(uris[owner], schemaShape);
			expect(shape).toEqual(await freshShape(owner, await fresh(owner)));
		}

		// reads: the clients as they were, each event of the log in the audit trail with its sequence
		const clientRows = before.clients.clients as Array<{ id: number; name: string; deletedAt: unknown }>;
		const living = clientRows.filter((row) => row.deletedAt === null);
		const listed = await api.get("/clients?pageSize=100");
		expect(listed.status).toBe(200);
		expect(listed.body.rows.map((row: { id: number; name: string }) => [row.id, row.name])).toEqual(living.map((row) => [Number(row.id), row.name]));
		const clientLog = before.clients.event_log as Array<{ sequence: number; entityId: number; version: number }>;
		for (const row of clientRows) {
			const trail = await api.get(`/clients/${row.id}/events`);
			expect(trail.status).toBe(200);
			expect(trail.body.map((event: { sequence: number }) => event.sequence)).toEqual(
				clientLog
					.filter((event) => Number(event.entityId) === Number(row.id))
					.sort((a, b) => Number(a.version) - Number(b.version))
					.map((event) => Number(event.sequence)),
			);
		}

		// writes: a new client and its goal continue both logs, and each side's copy catches up
		const created = await api.post("/clients", { name: "After Upgrade", email: "after.upgrade@example.com" });
		expect(created.status).toBe(201);
		expect(created.body.id).toBeGreaterThan(Math.max(...clientRows.map((row) => Number(row.id))));
		const goal = await api.post("/goals", { clientId: created.body.id, goalName: "Fresh start", targetAmount: 0.3 });
		expect(goal.status).toBe(201);
		const trail = await api.get(`/clients/${created.body.id}/events`);
		expect(trail.body.map((event: { sequence: number }) => event.sequence)).toEqual([Math.max(...clientLog.map((event) => Number(event.sequence))) + 1]);
		await waitFor(async () => (await api.get(`/clients/${created.body.id}`)).body.goals.length === 1, { timeoutMs: 10_000, what: "the goal's copy" });
		const renamed = await api.put(`/clients/${created.body.id}`, { name: "Renamed After" });
		expect(renamed.status).toBe(200);
		await waitFor(async () => (await api.get(`/goals/${goal.body.id}`)).body.clientName === "Renamed After", { timeoutMs: 10_000, what: "the client's copy" });
	} finally {
		await system.stop();
	}

	// a second start applies nothing
	for (const owner of OWNERS) {
		const db = new Database(uris[owner], { schema: serviceSchema(owner) });
		await expect(db.open()).resolves.toEqual({ applied: [], unknown: [] });
		await db.close();
		await db.sequelize.close();
	}
}

test("SQLite files made by 1d8a008 are upgraded in place at start: every row and event kept", async () => {
	const dir = tempDataDir();
	try {
		for (const owner of OWNERS) copyFileSync(path.join(FIXTURES, `${owner}.sqlite`), path.join(dir, `${owner}.sqlite`));
		let n = 0;
		const fresh = async () => `sqlite:${path.join(dir, `fresh-${++n}.sqlite`)}`;
		await upgradeKeepsEverything({ clients: `sqlite:${path.join(dir, "clients.sqlite")}`, goals: `sqlite:${path.join(dir, "goals.sqlite")}` }, fresh, {}, dir);
	} finally {
		removeDir(dir);
	}
}, 60_000);

describeWithInfra(["postgres"], "PostgreSQL made by 1d8a008", () => {
	const names: string[] = [];
	const dir = tempDataDir();
	afterAll(async () => {
		await Promise.all(names.map((name) => dropDatabase(name)));
		removeDir(dir);
	});
	const database = async (prefix: string) => {
		const name = uniqueName(prefix);
		names.push(name);
		return createDatabase(name);
	};

	/** A fresh database loaded from a dump (psql's meta-commands left out: the rest is plain SQL). */
	async function load(owner: Source): Promise<string> {
		const uri = await database(`upgrade_${owner}`);
		const dump = readFileSync(path.join(FIXTURES, `${owner}.sql`), "utf8")
			.split("\n")
			.filter((line) => !line.startsWith("\\"))
			.join("\n");
		const connection = new Client({ connectionString: uri });
		await connection.connect();
		try {
			await connection.query(dump);
		} finally {
			await connection.end();
		}
		return uri;
	}

	test("databases made by 1d8a008 are upgraded in place at start: every row and event kept", async () => {
		const uris = { clients: await load(SOURCES.clients), goals: await load(SOURCES.goals) };
		// the relay's checkpoint came along: it was a cluster node's database
		expect(await read(uris.goals, (s) => s.query(`SELECT COUNT(*)::int AS n FROM relay_checkpoint`, { type: QueryTypes.SELECT }))).toEqual([{ n: 1 }]);
		await upgradeKeepsEverything(uris, (owner) => database(`fresh_${owner}`), { DB_POOL_MAX: "2" }, dir);
	}, 60_000);
});
