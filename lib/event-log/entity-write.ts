/**
 * A write's change to its entity, decided and not yet sent: the event's append carries it
 * (EventLog.appendDecided). On PostgreSQL both are one statement, with the request's key and the
 * COMMIT: the change as a data-modifying CTE, and the event and the key appended only from the
 * row it changed. So a write costs one round trip fewer, and a change that finds its version
 * moved stores nothing at all (no event, no key) and answers `conflict()`. On SQLite (one writer,
 * statements on a worker thread either way) it runs as its own statement before the append.
 */
import type { Sql } from "../storage/sql";

export interface EntityWrite {
	/** an UPDATE of one row, guarded by the version it was decided from: no row changed, no write */
	text: string;
	params: unknown[];
	/** what the caller is told when it changed no row (the version moved meanwhile) */
	conflict(): Error;
	/** a refusal of this change by the database as the caller should see it (a unique email: 409), or the error itself */
	refused?(err: unknown): unknown;
}

/** The change as a statement of its own (SQLite; or wherever it cannot ride): throws as the append would. */
export async function runEntityWrite(sql: Sql, write: EntityWrite): Promise<void> {
	let changed: number;
	try {
		changed = await sql.run(write.text, write.params);
	} catch (err) {
		throw write.refused ? write.refused(err) : err;
	}
	if (changed === 0) throw write.conflict();
}
