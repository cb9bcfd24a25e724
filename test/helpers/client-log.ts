/**
 * A client service's history made up at volume, for what needs a long log fast (the bootstrap
 * benchmark, the cluster rebuild test): rows for its `event_log` and its `clients` table written
 * with multi-row INSERTs straight into its database, not through REST. The rows are the ones the
 * service itself would have written: versions 1, 2, …, each entity's last event its full state, a
 * deleted client's last event its DELETED tombstone (version one above, its last values, its
 * email key released).
 */
import { randomUUID } from "node:crypto";

export interface ClientHistory {
	/** event_log rows in sequence order: round r holds every entity's version r + 1 */
	events: Array<{ eventId: string; eventType: "CREATED" | "UPDATED" | "DELETED"; entityId: number; version: number; payload: string; timestamp: string }>;
	/** the clients table as the history leaves it */
	clients: Array<{ id: number; name: string; email: string; emailKey: string | null; version: number; deletedAt: string | null }>;
}

/**
 * `entities` clients (ids 1..entities), `eventsPerEntity` events each (a create, then renames);
 * every `deleteEvery`-th client's last event is its deletion (0: none deleted).
 */
export function clientHistory(entities: number, eventsPerEntity: number, deleteEvery: number, tag = "hist"): ClientHistory {
	const at = new Date().toISOString();
	const history: ClientHistory = { events: [], clients: [] };
	const nameAt = (id: number, version: number) => `Client ${id} v${version}`;
	const emailOf = (id: number) => `c${id}.${tag}@example.com`;
	const deleted = (id: number) => deleteEvery > 0 && id % deleteEvery === 0;
	for (let version = 1; version <= eventsPerEntity; version++) {
		for (let id = 1; id <= entities; id++) {
			const last = version === eventsPerEntity;
			const eventType = version === 1 ? "CREATED" : last && deleted(id) ? "DELETED" : "UPDATED";
			// a DELETED carries the last values: the name of the version before it
			const name = nameAt(id, eventType === "DELETED" ? version - 1 : version);
			const payload = JSON.stringify({ clientId: id, clientName: name, clientEmail: emailOf(id) });
			history.events.push({ eventId: randomUUID(), eventType, entityId: id, version, payload, timestamp: at });
		}
	}
	for (let id = 1; id <= entities; id++) {
		const gone = deleted(id);
		history.clients.push({
			id,
			name: nameAt(id, gone ? eventsPerEntity - 1 : eventsPerEntity),
			email: emailOf(id),
			emailKey: gone ? null : emailOf(id),
			version: eventsPerEntity,
			deletedAt: gone ? at : null,
		});
	}
	return history;
}

/** Multi-row INSERTs of `rows` (objects with the same keys) into `table`, `chunk` rows a statement. */
export async function insertRows(
	run: (text: string, params: unknown[]) => Promise<unknown>,
	table: string,
	rows: readonly Record<string, unknown>[],
	options: { chunk?: number; placeholders?: "?" | "$n"; extra?: Record<string, unknown>; onChunk?: (done: number) => void } = {},
): Promise<void> {
	if (rows.length === 0) return;
	const chunk = options.chunk ?? 100;
	const extra = options.extra ?? {};
	const columns = [...Object.keys(rows[0]), ...Object.keys(extra)];
	const quoted = columns.map((column) => `"${column}"`).join(", ");
	for (let start = 0; start < rows.length; start += chunk) {
		const part = rows.slice(start, start + chunk);
		let n = 0;
		const mark = () => (options.placeholders === "$n" ? `$${++n}` : "?");
		const values = part.map(() => `(${columns.map(mark).join(", ")})`).join(", ");
		const params = part.flatMap((row) => columns.map((column) => (column in row ? row[column] : extra[column])));
		await run(`INSERT INTO ${table} (${quoted}) VALUES ${values}`, params);
		options.onChunk?.(Math.min(start + chunk, rows.length));
	}
}
