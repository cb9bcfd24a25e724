/**
 * The peer's client service: clients in PostgreSQL, each change committed with its event-log row
 * under an advisory lock (so that sequences become visible in order), then emitted. It keeps a
 * copy of each client's goals from `goal.created` (group `clients`), as the project's does.
 */
import { randomUUID } from "node:crypto";
import { type Context, Errors, type ServiceSchema } from "moleculer";
import type { Pool, PoolClient } from "pg";
import { inTransaction } from "./db";
import type { ClientEvent, GoalEvent } from "./events";

interface ClientRow {
	id: number;
	name: string;
	email: string;
	version: number;
	createdAt: Date;
	updatedAt: Date;
}

interface GoalSummary {
	id: number;
	goalName: string;
	targetAmount: number;
}

interface HttpMeta {
	$statusCode?: number;
}

const UNIQUE_VIOLATION = "23505";

function notFound(id: number): Errors.MoleculerClientError {
	return new Errors.MoleculerClientError(`Client ${id} not found`, 404, "NOT_FOUND", { id });
}

/** Append the event to the log (in the change's transaction) and return it with its sequence. */
async function logEvent(db: PoolClient, eventType: ClientEvent["eventType"], row: ClientRow): Promise<ClientEvent> {
	const event: Omit<ClientEvent, "sequence"> = {
		eventId: randomUUID(),
		eventType,
		source: "clients",
		timestamp: new Date().toISOString(),
		version: row.version,
		clientId: row.id,
		clientName: row.name,
		clientEmail: row.email,
	};
	// one writer of the log at a time: a later sequence never commits before an earlier one
	await db.query("SELECT pg_advisory_xact_lock(1)");
	const { rows } = await db.query<{ sequence: string }>(
		`INSERT INTO client_events ("eventId", "eventType", "clientId", version, payload) VALUES ($1, $2, $3, $4, $5) RETURNING sequence`,
		[event.eventId, eventType, row.id, row.version, JSON.stringify(event)],
	);
	return { ...event, sequence: Number(rows[0].sequence) };
}

export function clientsService(pool: Pool): ServiceSchema {
	return {
		name: "clients",
		actions: {
			create: {
				params: { name: { type: "string", trim: true, min: 1, max: 100 }, email: { type: "email", max: 254 }, $$strict: true },
				async handler(ctx: Context<{ name: string; email: string }, HttpMeta>) {
					try {
						const [row, event] = await inTransaction(pool, async (db) => {
							const { rows } = await db.query<ClientRow>("INSERT INTO clients (name, email) VALUES ($1, $2) RETURNING *", [ctx.params.name, ctx.params.email]);
							return [rows[0], await logEvent(db, "CREATED", rows[0])] as const;
						});
						await ctx.emit("client.created", event);
						ctx.meta.$statusCode = 201;
						return { ...row, goals: [] };
					} catch (err) {
						if ((err as { code?: string }).code === UNIQUE_VIOLATION) throw new Errors.MoleculerClientError("Email taken", 409, "CONFLICT");
						throw err;
					}
				},
			},

			get: {
				params: { id: { type: "number", integer: true, positive: true, convert: true } },
				async handler(ctx: Context<{ id: number }>) {
					const { rows } = await pool.query<ClientRow & { goals: GoalSummary[] }>(
						`SELECT c.*, COALESCE((SELECT json_agg(json_build_object('id', g.id, 'goalName', g."goalName", 'targetAmount', g."targetAmount"::float8) ORDER BY g.id)
						   FROM goals_copy g WHERE g."clientId" = c.id), '[]') AS goals
						 FROM clients c WHERE c.id = $1`,
						[ctx.params.id],
					);
					if (rows.length === 0) throw notFound(ctx.params.id);
					return rows[0];
				},
			},

			update: {
				params: {
					id: { type: "number", integer: true, positive: true, convert: true },
					name: { type: "string", trim: true, min: 1, max: 100, optional: true },
					email: { type: "email", max: 254, optional: true },
					$$strict: true,
				},
				async handler(ctx: Context<{ id: number; name?: string; email?: string }>) {
					const { id, name, email } = ctx.params;
					if (name === undefined && email === undefined) throw new Errors.ValidationError("Nothing to change", "VALIDATION_ERROR", [{ field: "name" }]);
					const [row, event] = await inTransaction(pool, async (db) => {
						const { rows } = await db.query<ClientRow>(
							`UPDATE clients SET name = COALESCE($2, name), email = COALESCE($3, email), version = version + 1, "updatedAt" = now()
							 WHERE id = $1 RETURNING *`,
							[id, name ?? null, email ?? null],
						);
						if (rows.length === 0) throw notFound(id);
						return [rows[0], await logEvent(db, "UPDATED", rows[0])] as const;
					});
					await ctx.emit("client.updated", event);
					return row;
				},
			},
		},

		events: {
			"goal.created": {
				// the client's copy of its goals, newer versions only (a redelivery changes nothing)
				async handler(ctx: Context<GoalEvent>) {
					const e = ctx.params;
					await pool.query(
						`INSERT INTO goals_copy (id, "clientId", "goalName", "targetAmount", version) VALUES ($1, $2, $3, $4, $5)
						 ON CONFLICT (id) DO UPDATE SET "goalName" = EXCLUDED."goalName", "targetAmount" = EXCLUDED."targetAmount", version = EXCLUDED.version
						 WHERE goals_copy.version < EXCLUDED.version`,
						[e.goalId, e.clientId, e.goalName, e.targetAmount, e.version],
					);
				},
			},
		},
	};
}
