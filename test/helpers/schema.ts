/**
 * A database's schema and contents as plain data, to compare two databases (one migrated fresh,
 * one upgraded) or one database before and after a start. Both dialects, through Sequelize.
 */
import { QueryTypes, type Sequelize } from "sequelize";

/** Each table's columns (name, type, nullability, default) and indexes (name, uniqueness, columns), sorted by name. */
export type SchemaShape = Record<string, { columns: string[]; indexes: string[] }>;

export async function schemaShape(sequelize: Sequelize): Promise<SchemaShape> {
	const select = <T extends object>(text: string, replacements: unknown[] = []) => sequelize.query<T>(text, { type: QueryTypes.SELECT, replacements });
	const shape: SchemaShape = {};
	if (sequelize.getDialect() === "postgres") {
		const columns = await select<{ table: string; column: string; type: string; length: number | null; nullable: string; default: string | null }>(
			`SELECT table_name AS "table", column_name AS "column", data_type AS "type", character_maximum_length AS "length",
			   is_nullable AS "nullable", column_default AS "default"
			 FROM information_schema.columns WHERE table_schema = current_schema()`,
		);
		for (const c of columns) {
			shape[c.table] ??= { columns: [], indexes: [] };
			shape[c.table].columns.push(
				`${c.column} ${c.type}${c.length ? `(${c.length})` : ""} ${c.nullable === "YES" ? "NULL" : "NOT NULL"} ${c.default ?? ""}`.trim(),
			);
		}
		const indexes = await select<{ table: string; definition: string }>(
			`SELECT tablename AS "table", indexdef AS "definition" FROM pg_indexes WHERE schemaname = current_schema()`,
		);
		for (const index of indexes) shape[index.table].indexes.push(index.definition);
	} else {
		const tables = await select<{ name: string }>(`SELECT "name" FROM sqlite_master WHERE "type" = 'table' AND "name" NOT LIKE 'sqlite_%'`);
		for (const { name } of tables) {
			const columns = await select<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>(
				`SELECT * FROM pragma_table_info(?)`,
				[name],
			);
			const indexes = await select<{ name: string; unique: number }>(`SELECT "name", "unique" FROM pragma_index_list(?)`, [name]);
			const described: string[] = [];
			for (const index of indexes) {
				const parts = await select<{ name: string }>(`SELECT "name" FROM pragma_index_info(?) ORDER BY "seqno"`, [index.name]);
				described.push(`${index.name} ${index.unique ? "UNIQUE " : ""}(${parts.map((part) => part.name).join(", ")})`);
			}
			shape[name] = {
				columns: columns.map((c) => `${c.name} ${c.type} ${c.notnull ? "NOT NULL" : "NULL"}${c.pk ? " PRIMARY KEY" : ""} ${c.dflt_value ?? ""}`.trim()),
				indexes: described,
			};
		}
	}
	return Object.fromEntries(
		Object.keys(shape)
			.sort()
			.map((table) => [table, { columns: shape[table].columns.sort(), indexes: shape[table].indexes.sort() }]),
	);
}

/** Every row of every table but `except`, ordered by all its columns, with each row's keys sorted: what a start must keep. */
export async function contents(sequelize: Sequelize, except: string[] = []): Promise<Record<string, Record<string, unknown>[]>> {
	const shape = await schemaShape(sequelize);
	const out: Record<string, Record<string, unknown>[]> = {};
	for (const table of Object.keys(shape).sort()) {
		if (except.includes(table)) continue;
		const columns = shape[table].columns.map((column) => column.split(" ")[0]);
		const rows = await sequelize.query<Record<string, unknown>>(`SELECT * FROM "${table}" ORDER BY ${columns.map((c) => `"${c}"`).join(", ")}`, {
			type: QueryTypes.SELECT,
		});
		out[table] = rows.map((row) => Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : 1))));
	}
	return out;
}
