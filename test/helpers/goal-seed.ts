/**
 * A goal service's database and client events as a test needs them: client copies (living, at
 * the given versions) and goals carrying their clients' names, written in the caller's
 * transaction; client events numbered as the client service's log numbers them.
 */
import { SOURCES } from "../../lib/constants";
import type { ClientEvent } from "../../lib/domain/events";
import type { ClientCopy } from "../../lib/domain/projection-rules";
import { type Sql, sqlTime } from "../../lib/storage/sql";

export async function seedCopiesAndGoals(
	sql: Sql,
	copies: ReadonlyArray<Omit<ClientCopy, "deleted">>,
	goals: ReadonlyArray<{ id: number; clientId: number; clientName: string }>,
): Promise<void> {
	for (const copy of copies) {
		await sql.run(`INSERT INTO client_projection ("clientId", "name", "email", "version", "deleted") VALUES (?, ?, ?, ?, ?)`, [
			copy.clientId,
			copy.name,
			copy.email,
			copy.version,
			false,
		]);
	}
	const now = sqlTime(sql, new Date());
	for (const goal of goals) {
		await sql.run(
			`INSERT INTO goals ("id", "clientId", "clientName", "goalName", "targetCents", "version", "deletedAt", "createdAt", "updatedAt")
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[goal.id, goal.clientId, goal.clientName, `Goal ${goal.id}`, 100, 1, null, now, now],
		);
	}
}

/**
 * Client events as the client service's log would number them: each call the next sequence
 * (from 1), its email at `domain`.
 */
export function clientEventsAt(domain: string): (clientId: number, version: number, clientName: string, eventType?: "UPDATED" | "DELETED") => ClientEvent {
	let sequence = 0;
	return (clientId, version, clientName, eventType = "UPDATED") => {
		sequence++;
		return {
			eventId: `00000000-0000-4000-8000-${String(sequence).padStart(12, "0")}`,
			eventType,
			source: SOURCES.clients,
			timestamp: new Date().toISOString(),
			sequence,
			version,
			clientId,
			clientName,
			clientEmail: `c${clientId}@${domain}`,
		} as ClientEvent;
	};
}
