/**
 * Applies a schema's migrations (lib/storage/migrations/) at start: those not yet recorded in
 * `schema_migrations`, in order, each in a transaction of its own together with its record, so a
 * migration is either applied and recorded or neither. On PostgreSQL, replicas starting together
 * take turns under a session advisory lock (released by PostgreSQL if the process dies): the
 * second finds everything recorded and applies nothing. SQLite serves one process; its
 * transactions check the record again anyway.
 */
import { isDatabaseUnavailable, MigrationError } from "../errors";
import { type Schema, migrationLabel } from "./migrations/migration";
import { type Sql, sqlTime } from "./sql";

/** What a start did to the schema. */
export interface MigrationReport {
	/** labels of the migrations applied now, in order (none: the schema was up to date) */
	applied: string[];
	/** ids recorded by a newer version of the code, unknown to this one (its additions do not hurt this code) */
	unknown: number[];
}

const LOCK_KEY = "schema_migrations";

function createTable(sql: Sql): string {
	const time = sql.dialect === "postgres" ? "TIMESTAMP WITH TIME ZONE" : "DATETIME";
	return `CREATE TABLE IF NOT EXISTS schema_migrations ("id" INTEGER PRIMARY KEY, "name" VARCHAR(100) NOT NULL, "appliedAt" ${time} NOT NULL)`;
}

/** Migration ids must rise strictly: a list out of order is a mistake in the code, found at the first start. */
function checkOrder(schema: Schema): void {
	schema.migrations.forEach((migration, i) => {
		const before = schema.migrations[i - 1];
		if (before && migration.id <= before.id) throw new Error(`migration ${migrationLabel(migration)} is listed after ${migrationLabel(before)}`);
	});
}

/**
 * Bring the database of `sql` (a connection of its own, outside any transaction) to `schema`.
 * @throws MigrationError naming the migration that failed (rolled back), or the database's own
 *   error when it cannot be reached (the service's start is then retried like any connect)
 */
export async function migrate(sql: Sql, schema: Schema, now: () => Date = () => new Date()): Promise<MigrationReport> {
	checkOrder(schema);
	const postgres = sql.dialect === "postgres";
	if (postgres) await sql.all("SELECT pg_advisory_lock(hashtext(?)) AS locked", [LOCK_KEY]);
	try {
		await sql.run(createTable(sql));
		const applied: string[] = [];
		for (const migration of schema.migrations) {
			const label = migrationLabel(migration);
			// IMMEDIATE: SQLite's write lock from the start, so the check below cannot go stale
			await sql.run(postgres ? "BEGIN" : "BEGIN IMMEDIATE");
			try {
				const recorded = await sql.all(`SELECT 1 FROM schema_migrations WHERE "id" = ?`, [migration.id]);
				if (recorded.length === 0) {
					await migration.up(sql, schema.owner);
					await sql.run(`INSERT INTO schema_migrations ("id", "name", "appliedAt") VALUES (?, ?, ?)`, [migration.id, migration.name, sqlTime(sql, now())]);
					applied.push(label);
				}
				await sql.run("COMMIT");
			} catch (err) {
				await sql.run("ROLLBACK").catch(() => undefined);
				if (isDatabaseUnavailable(err)) throw err;
				throw new MigrationError(label, err as Error);
			}
		}
		const known = new Set(schema.migrations.map((migration) => migration.id));
		const recorded = await sql.all<{ id: number }>(`SELECT "id" FROM schema_migrations ORDER BY "id"`);
		return { applied, unknown: recorded.map((row) => Number(row.id)).filter((id) => !known.has(id)) };
	} finally {
		if (postgres) await sql.all("SELECT pg_advisory_unlock(hashtext(?)) AS unlocked", [LOCK_KEY]).catch(() => undefined);
	}
}
