/**
 * A service's SQLite file opened from the outside, on a connection of its own: for what a test
 * must see or do below the REST API (checkpoints, the other side's projections, a commit whose
 * publish never happened). Works while the service runs (WAL: readers never block the writer)
 * and after it stopped.
 */
import path from "node:path";
import { QueryTypes, Sequelize } from "sequelize";

export type ServiceDb = "clients" | "goals";

export async function withSqlite<T>(dataDir: string, db: ServiceDb, work: (sequelize: Sequelize) => Promise<T>): Promise<T> {
	const sequelize = new Sequelize({ dialect: "sqlite", storage: path.join(dataDir, `${db}.sqlite`), logging: false });
	try {
		return await work(sequelize);
	} finally {
		await sequelize.close();
	}
}

export function querySqlite<T extends object = Record<string, unknown>>(
	dataDir: string,
	db: ServiceDb,
	sql: string,
	replacements: Record<string, unknown> = {},
): Promise<T[]> {
	return withSqlite(dataDir, db, (sequelize) => sequelize.query<T>(sql, { type: QueryTypes.SELECT, replacements }));
}

/** The consumer's checkpoint in `db` for `producer` (0 when none was written yet). */
export async function checkpointOf(dataDir: string, db: ServiceDb, producer: ServiceDb): Promise<number> {
	const rows = await querySqlite<{ sequence: number }>(dataDir, db, "SELECT sequence FROM checkpoints WHERE producer = :producer", {
		producer,
	});
	return rows.length > 0 ? Number(rows[0].sequence) : 0;
}

/** The producer's highest sequence in its own `event_log`. */
export async function lastSequenceOf(dataDir: string, producer: ServiceDb): Promise<number> {
	const rows = await querySqlite<{ last: number | null }>(dataDir, producer, "SELECT MAX(sequence) AS last FROM event_log");
	return Number(rows[0]?.last ?? 0);
}
