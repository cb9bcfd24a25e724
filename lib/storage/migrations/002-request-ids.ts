/**
 * 002: the request id of a change beside its event (event_log) and its consumer's retry
 * (event_retries), for databases made before X-Request-ID was kept. Nullable: their old rows
 * know no request. The baseline has the columns already; this finds them there and does nothing.
 */
import type { Sql } from "../sql";
import { hasColumn, type Migration } from "./migration";

export const requestIds: Migration = {
	id: 2,
	name: "request-ids",
	async up(sql: Sql): Promise<void> {
		for (const table of ["event_log", "event_retries"]) {
			if (!(await hasColumn(sql, table, "requestId"))) await sql.run(`ALTER TABLE ${table} ADD COLUMN "requestId" VARCHAR(128)`);
		}
	},
};
