/**
 * One numbered change of a service database's schema (lib/storage/migrations/NNN-name.ts), applied
 * once, in order, each in a transaction of its own, and recorded in `schema_migrations`
 * (lib/storage/migrate.ts). The migrations are the schema's only source: no model creates a table.
 *
 * A migration only ever adds (tables, nullable columns, indexes), so code of the version before
 * still runs on the schema after it: replicas of two versions can share a database while a
 * rolling upgrade passes.
 */
import type { Source } from "../../constants";
import type { Dialect, Sql } from "../sql";

export interface Migration {
	/** its number: the order it is applied in, never reused */
	readonly id: number;
	/** what it does, in a few words (kebab-case, as in its file name) */
	readonly name: string;
	/**
	 * Runs inside its transaction. `owner`: the service whose database this is (each has its own
	 * entity and copy tables beside the common ones). Must also be right on a database that an
	 * earlier version made without migrations (hence IF NOT EXISTS, and columns looked up first).
	 */
	up(sql: Sql, owner: Source): Promise<void>;
}

/** A service database's schema: whose it is and the migrations that make it. */
export interface Schema {
	readonly owner: Source;
	readonly migrations: readonly Migration[];
}

/** `001-baseline`: how a migration is named in logs and errors. */
export function migrationLabel(migration: Pick<Migration, "id" | "name">): string {
	return `${String(migration.id).padStart(3, "0")}-${migration.name}`;
}

/** The column types that differ between the dialects, as Sequelize's sync() made them before migrations. */
export function columnTypes(dialect: Dialect): { serial: string; time: string; boolean: string } {
	return dialect === "postgres"
		? { serial: "SERIAL PRIMARY KEY", time: "TIMESTAMP WITH TIME ZONE", boolean: "BOOLEAN" }
		: { serial: "INTEGER PRIMARY KEY AUTOINCREMENT", time: "DATETIME", boolean: "TINYINT(1)" };
}

/** Whether `table` has `column` (ADD COLUMN has no IF NOT EXISTS on SQLite). */
export async function hasColumn(sql: Sql, table: string, column: string): Promise<boolean> {
	const rows =
		sql.dialect === "postgres"
			? await sql.all(`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?`, [table, column])
			: await sql.all(`SELECT 1 FROM pragma_table_info(?) WHERE "name" = ?`, [table, column]);
	return rows.length > 0;
}
