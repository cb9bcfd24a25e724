/**
 * The migration runner on a real SQLite file and a real PostgreSQL database: a fresh database
 * gets every migration, recorded; a second start applies nothing; a migration added later is
 * applied once; a failing one is rolled back whole, not recorded, and named in the error;
 * replicas starting together on PostgreSQL apply each migration once between them.
 */
import path from "node:path";
import { QueryTypes } from "sequelize";
import { SOURCES } from "../../lib/constants";
import { MigrationError } from "../../lib/errors";
import { Database } from "../../lib/storage/database";
import { MIGRATIONS, serviceSchema } from "../../lib/storage/migrations";
import type { Migration, Schema } from "../../lib/storage/migrations/migration";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { removeDir, tempDataDir } from "../helpers/system";

const baseLabels = ["001-baseline", "002-request-ids", "003-operating-consumers"];

/** A migration a later version might add: a table of its own. */
const addNotes: Migration = {
	id: MIGRATIONS.length + 1,
	name: "notes",
	up: async (sql) => {
		await sql.run(`CREATE TABLE notes ("id" INTEGER PRIMARY KEY, "text" TEXT NOT NULL)`);
	},
};

/** One that fails half-way: its first statement must be undone with it. */
const broken: Migration = {
	id: MIGRATIONS.length + 2,
	name: "broken",
	up: async (sql) => {
		await sql.run(`CREATE TABLE half_done ("id" INTEGER PRIMARY KEY)`);
		await sql.run(`ALTER TABLE no_such_table ADD COLUMN "x" INTEGER`);
	},
};

const withMigrations = (...extra: Migration[]): Schema => ({ owner: SOURCES.goals, migrations: [...MIGRATIONS, ...extra] });

async function opened<T>(uri: string, schema: Schema, work: (db: Database, applied: string[]) => Promise<T>): Promise<T> {
	const db = new Database(uri, { schema });
	try {
		const { applied } = await db.open();
		return await work(db, applied);
	} finally {
		await db.close();
		await db.sequelize.close();
	}
}

const select = <T extends object>(db: Database, text: string) => db.sequelize.query<T>(text, { type: QueryTypes.SELECT });
const recorded = async (db: Database) =>
	(await select<{ id: number; name: string }>(db, `SELECT "id", "name" FROM schema_migrations ORDER BY "id"`)).map((row) => `${row.id} ${row.name}`);
const tableExists = async (db: Database, table: string) =>
	(db.dialect === "postgres"
		? await select(db, `SELECT 1 FROM information_schema.tables WHERE table_name = '${table}'`)
		: await select(db, `SELECT 1 FROM sqlite_master WHERE "type" = 'table' AND "name" = '${table}'`)
	).length > 0;

function runnerTests(uriOf: () => Promise<string>): void {
	test("given a fresh database, every migration is applied and recorded, and a second start applies nothing", async () => {
		const uri = await uriOf();
		await opened(uri, serviceSchema(SOURCES.goals), async (db, applied) => {
			expect(applied).toEqual(baseLabels);
			expect(await recorded(db)).toEqual(["1 baseline", "2 request-ids", "3 operating-consumers"]);
			expect(await tableExists(db, "goals")).toBe(true);
			// the goal service's database holds no client table
			expect(await tableExists(db, "clients")).toBe(false);
		});
		await opened(uri, serviceSchema(SOURCES.goals), async (_db, applied) => expect(applied).toEqual([]));
	});

	test("given a migration added by a later version, it is applied once, after the others", async () => {
		const uri = await uriOf();
		await opened(uri, withMigrations(addNotes), async (db, applied) => {
			expect(applied).toEqual([...baseLabels, `00${addNotes.id}-notes`]);
			expect(await tableExists(db, "notes")).toBe(true);
		});
		await opened(uri, withMigrations(addNotes), async (_db, applied) => expect(applied).toEqual([]));
		// the version before still starts on it: the migration it does not know only added
		const db = new Database(uri, { schema: serviceSchema(SOURCES.goals) });
		await expect(db.open()).resolves.toEqual({ applied: [], unknown: [addNotes.id] });
		await db.close();
		await db.sequelize.close();
	});

	test("given a migration that fails, it is rolled back whole, not recorded, and the error names it", async () => {
		const uri = await uriOf();
		const db = new Database(uri, { schema: withMigrations(broken) });
		const failure = await db.open().then(
			() => null,
			(err: unknown) => err,
		);
		expect(failure).toBeInstanceOf(MigrationError);
		expect(failure).toMatchObject({ code: 500, type: "MIGRATION_FAILED", data: { migration: `00${broken.id}-broken` } });
		await db.close();
		await db.sequelize.close();
		// the migrations before it stay applied; nothing of it is left
		await opened(uri, serviceSchema(SOURCES.goals), async (after) => {
			expect(await recorded(after)).toEqual(["1 baseline", "2 request-ids", "3 operating-consumers"]);
			expect(await tableExists(after, "half_done")).toBe(false);
		});
	});
}

describe("SQLite migrations", () => {
	const dir = tempDataDir();
	let n = 0;
	afterAll(() => removeDir(dir));
	runnerTests(async () => `sqlite:${path.join(dir, `db-${++n}.sqlite`)}`);
});

describeWithInfra(["postgres"], "PostgreSQL migrations", () => {
	const names: string[] = [];
	afterAll(() => Promise.all(names.map((name) => dropDatabase(name))));
	const fresh = async () => {
		const name = uniqueName("migrations");
		names.push(name);
		return createDatabase(name);
	};
	runnerTests(fresh);

	test("given three replicas starting together on a fresh database, each migration is applied once between them", async () => {
		const uri = await fresh();
		const replicas = [1, 2, 3].map(() => new Database(uri, { schema: withMigrations(addNotes), poolMax: 2 }));
		try {
			const reports = await Promise.all(replicas.map((db) => db.open()));
			expect(reports.flatMap((report) => report.applied).sort()).toEqual([...baseLabels, `00${addNotes.id}-notes`]);
			expect(await recorded(replicas[0])).toEqual(["1 baseline", "2 request-ids", "3 operating-consumers", `${addNotes.id} notes`]);
		} finally {
			for (const db of replicas) {
				await db.close();
				await db.sequelize.close();
			}
		}
	});
});
