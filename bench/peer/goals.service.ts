/**
 * The peer's goal service: a goal is created only for a client the client service knows (a
 * synchronous `clients.get`), committed with its event-log row, then emitted. It keeps a copy of
 * each client's name from `client.updated` (group `goals`, shared by the replicas), newer
 * versions only, and `GET /api/goals/:id` reads the name from that copy.
 */
import { randomUUID } from "node:crypto";
import { type Context, Errors, type ServiceSchema } from "moleculer";
import type { Pool, PoolClient } from "pg";
import { inTransaction } from "./db";
import type { ClientEvent, GoalEvent } from "./events";

interface GoalRow {
	id: number;
	clientId: number;
	goalName: string;
	targetAmount: string;
	version: number;
	createdAt: Date;
	updatedAt: Date;
}

interface Client {
	id: number;
	name: string;
	version: number;
}

interface HttpMeta {
	$statusCode?: number;
}

/** NUMERIC comes back as text from `pg`: the API answers a JSON number. */
function present(row: GoalRow, clientName: string | null) {
	return { ...row, clientName, targetAmount: Number(row.targetAmount) };
}

/** The copy of a client's name, newer versions only: a late or repeated event changes nothing. */
async function keepClient(db: Pool | PoolClient, client: Client): Promise<void> {
	await db.query(
		`INSERT INTO clients_copy (id, name, version) VALUES ($1, $2, $3)
		 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version WHERE clients_copy.version < EXCLUDED.version`,
		[client.id, client.name, client.version],
	);
}

export function goalsService(pool: Pool): ServiceSchema {
	return {
		name: "goals",
		actions: {
			create: {
				params: {
					clientId: { type: "number", integer: true, positive: true },
					goalName: { type: "string", trim: true, min: 1, max: 100 },
					targetAmount: { type: "number", positive: true, max: 1e12 },
					$$strict: true,
				},
				async handler(ctx: Context<{ clientId: number; goalName: string; targetAmount: number }, HttpMeta>) {
					const { clientId, goalName, targetAmount } = ctx.params;
					const client = await ctx.call<Client, { id: number }>("clients.get", { id: clientId }).catch((err: Errors.MoleculerError) => {
						if (err.code === 404) throw new Errors.ValidationError(`Client ${clientId} does not exist`, "CLIENT_NOT_FOUND", [{ field: "clientId" }]);
						throw err;
					});
					const [row, event] = await inTransaction(pool, async (db) => {
						await keepClient(db, client);
						const { rows } = await db.query<GoalRow>(`INSERT INTO goals ("clientId", "goalName", "targetAmount") VALUES ($1, $2, $3) RETURNING *`, [
							clientId,
							goalName,
							targetAmount,
						]);
						const goal = rows[0];
						const event: Omit<GoalEvent, "sequence"> = {
							eventId: randomUUID(),
							eventType: "CREATED",
							source: "goals",
							timestamp: new Date().toISOString(),
							version: goal.version,
							goalId: goal.id,
							clientId,
							goalName,
							targetAmount,
						};
						// one writer of the log at a time: a later sequence never commits before an earlier one
						await db.query("SELECT pg_advisory_xact_lock(1)");
						const logged = await db.query<{ sequence: string }>(
							`INSERT INTO goal_events ("eventId", "eventType", "goalId", version, payload) VALUES ($1, $2, $3, $4, $5) RETURNING sequence`,
							[event.eventId, event.eventType, goal.id, goal.version, JSON.stringify(event)],
						);
						return [goal, { ...event, sequence: Number(logged.rows[0].sequence) }] as const;
					});
					await ctx.emit("goal.created", event);
					ctx.meta.$statusCode = 201;
					return present(row, client.name);
				},
			},

			get: {
				params: { id: { type: "number", integer: true, positive: true, convert: true } },
				async handler(ctx: Context<{ id: number }>) {
					const { rows } = await pool.query<GoalRow & { clientName: string | null }>(
						`SELECT g.*, c.name AS "clientName" FROM goals g LEFT JOIN clients_copy c ON c.id = g."clientId" WHERE g.id = $1`,
						[ctx.params.id],
					);
					if (rows.length === 0) throw new Errors.MoleculerClientError(`Goal ${ctx.params.id} not found`, 404, "NOT_FOUND", { id: ctx.params.id });
					return present(rows[0], rows[0].clientName);
				},
			},
		},

		events: {
			"client.updated": {
				async handler(ctx: Context<ClientEvent>) {
					const e = ctx.params;
					await keepClient(pool, { id: e.clientId, name: e.clientName, version: e.version });
				},
			},
		},
	};
}
