/**
 * 003: what operating the consumers needs (CONTRACT.md, "Operating consumers").
 *
 * - `event_retries` gains the columns a dead letter is found and kept by: its event's type and
 *   entity id (filters, without parsing JSON), the original event beside an operator's edit and
 *   who edited it when, when an operator last sent it back for retry, and when it was settled
 *   (discarded or replayed: DEAD_LETTER_RETENTION_DAYS counts from then). All nullable: the
 *   version before runs on with them, and the rows it writes are found by the columns it knows.
 *   Existing rows get their type and entity id from their payload here.
 * - `consumer_pause`: a consumer's pause and its consecutive failures, one row per consumer,
 *   shared by its replicas (lib/consumer/pauses.ts).
 */
import { SOURCES, type Source } from "../../constants";
import { indexedFields } from "../../consumer/dead-letter-query";
import type { Sql } from "../sql";
import { columnTypes, hasColumn, type Migration } from "./migration";

function retryColumns(time: string): Array<[string, string]> {
	return [
		["eventType", "VARCHAR(16)"],
		["entityId", "INTEGER"],
		["original", "TEXT"],
		["editedAt", time],
		["editedBy", "VARCHAR(64)"],
		["revivedAt", time],
		["settledAt", time],
	];
}

function parsed(payload: string): unknown {
	try {
		return JSON.parse(payload);
	} catch {
		return null;
	}
}

export const operatingConsumers: Migration = {
	id: 3,
	name: "operating-consumers",
	async up(sql: Sql): Promise<void> {
		const t = columnTypes(sql.dialect);
		for (const [column, type] of retryColumns(t.time)) {
			if (!(await hasColumn(sql, "event_retries", column))) await sql.run(`ALTER TABLE event_retries ADD COLUMN "${column}" ${type}`);
		}
		await sql.run(`CREATE INDEX IF NOT EXISTS event_retries_status_settled_at ON event_retries ("status", "settledAt")`);
		// the rows of before: found by type and entity id like the ones written from now on
		const rows = await sql.all<{ id: number; producer: string; payload: string }>(
			`SELECT "id", "producer", "payload" FROM event_retries WHERE "eventType" IS NULL AND "entityId" IS NULL`,
		);
		for (const row of rows) {
			if (!(Object.values(SOURCES) as string[]).includes(row.producer)) continue;
			const { eventType, entityId } = indexedFields(row.producer as Source, parsed(row.payload));
			if (eventType !== null || entityId !== null) {
				await sql.run(`UPDATE event_retries SET "eventType" = ?, "entityId" = ? WHERE "id" = ?`, [eventType, entityId, row.id]);
			}
		}
		await sql.run(
			`CREATE TABLE IF NOT EXISTS consumer_pause ("consumer" VARCHAR(32) PRIMARY KEY, "state" VARCHAR(16) NOT NULL, "reason" TEXT,
			 "since" ${t.time}, "probeAt" ${t.time}, "failures" INTEGER NOT NULL DEFAULT 0)`,
		);
	},
};
