/**
 * The client service's tables: its clients, and its own copy of their goals kept from goal
 * events (the goal projection). Nothing here publishes or touches the cache: callers run these
 * inside a transaction and settle the effects after commit.
 */
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic, QueryTypes, type Sequelize } from "sequelize";
import type { Database } from "../storage/database";
import { CLIENT_GOALS_MAX } from "../constants";
import { ConflictError, EntityNotFoundError } from "../errors";
import type { ClientEventFields } from "../domain/events";
import { fromCents } from "../domain/money";
import { chunks, forUpdate, isUniqueViolation, readBoolean, readTime, type Sql, sqlTime } from "../storage/sql";

export interface ClientRow extends Model<InferAttributes<ClientRow>, InferCreationAttributes<ClientRow>> {
	id: number | null;
	name: string;
	email: string;
	/** lower-cased email while the client is alive, null once deleted: unique among the living */
	emailKey: string | null;
	version: number;
	deletedAt: Date | null;
	createdAt?: Date;
	updatedAt?: Date;
}

/** A client as the write path holds it. */
export interface ClientRecord {
	id: number;
	name: string;
	email: string;
	version: number;
	deletedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

/** A goal as the client service keeps it (its copy, from goal events). */
export interface GoalCopy {
	goalId: number;
	clientId: number;
	goalName: string;
	targetCents: number;
	version: number;
	deleted: boolean;
}

/** The same row as Sequelize's model holds it (schema and reads). */
export interface GoalCopyRow extends GoalCopy, Model<InferAttributes<GoalCopyRow>, InferCreationAttributes<GoalCopyRow>> {}

/** A client as the API shows it. */
export interface Client {
	id: number;
	name: string;
	email: string;
	version: number;
	createdAt: string;
	updatedAt: string;
	goals: ClientGoal[];
}

export interface ClientGoal {
	id: number;
	goalName: string;
	targetAmount: number;
}

/** What goal creation needs to know about a client, deleted ones included. */
export interface ClientLookup {
	id: number;
	name: string;
	email: string;
	version: number;
	deleted: boolean;
}

export class ClientStore {
	readonly clients: ModelStatic<ClientRow>;
	readonly goalCopies: ModelStatic<GoalCopyRow>;
	/** for the reads that are plain SQL */
	private readonly sequelize: Sequelize;

	constructor(db: Database) {
		this.sequelize = db.sequelize;
		this.clients = db.sequelize.define<ClientRow>(
			"Client",
			{
				id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
				name: { type: DataTypes.STRING(100), allowNull: false },
				email: { type: DataTypes.STRING(254), allowNull: false },
				emailKey: { type: DataTypes.STRING(254), allowNull: true, unique: true },
				version: { type: DataTypes.INTEGER, allowNull: false },
				deletedAt: { type: DataTypes.DATE, allowNull: true },
			},
			{ tableName: "clients" },
		);
		this.goalCopies = db.sequelize.define<GoalCopyRow>(
			"GoalCopy",
			{
				goalId: { type: DataTypes.INTEGER, primaryKey: true },
				clientId: { type: DataTypes.INTEGER, allowNull: false },
				goalName: { type: DataTypes.STRING(100), allowNull: false },
				targetCents: { type: DataTypes.BIGINT, allowNull: false },
				version: { type: DataTypes.INTEGER, allowNull: false },
				deleted: { type: DataTypes.BOOLEAN, allowNull: false },
			},
			{ tableName: "goal_projection", timestamps: false, indexes: [{ fields: ["clientId"] }] },
		);
	}

	// --- the client service's own entities (writes: plain SQL inside the caller's transaction) ---

	async insert(sql: Sql, name: string, email: string): Promise<ClientRecord> {
		const now = sqlTime(sql, new Date());
		const rows = await this.uniqueEmail(email, () =>
			sql.all<ClientRecord>(
				`INSERT INTO clients ("name", "email", "emailKey", "version", "deletedAt", "createdAt", "updatedAt")
				 VALUES (?, ?, ?, 1, NULL, ?, ?) RETURNING ${CLIENT_COLUMNS}`,
				[name, email, email.toLowerCase(), now, now],
			),
		);
		return clientRecord(rows[0]);
	}

	/**
	 * Change a living client: one statement, version + 1 (no read before: it would cost a round
	 * trip to the database per write). 404 if absent or deleted, 409 if the email is taken.
	 */
	async update(sql: Sql, id: number, changes: { name?: string; email?: string }): Promise<ClientRecord> {
		const rows = await this.uniqueEmail(changes.email ?? "", () =>
			sql.all<ClientRecord>(
				`UPDATE clients SET "name" = COALESCE(?, "name"), "email" = COALESCE(?, "email"), "emailKey" = COALESCE(?, "emailKey"),
				 "version" = "version" + 1, "updatedAt" = ? WHERE "id" = ? AND "deletedAt" IS NULL RETURNING ${CLIENT_COLUMNS}`,
				[changes.name ?? null, changes.email ?? null, changes.email?.toLowerCase() ?? null, sqlTime(sql, new Date()), id],
			),
		);
		if (rows.length === 0) throw new EntityNotFoundError("Client", id);
		return clientRecord(rows[0]);
	}

	/** Soft delete: the row stays for its version and audit; the email is free again. 404 if absent or deleted. */
	async markDeleted(sql: Sql, id: number): Promise<ClientRecord> {
		const now = sqlTime(sql, new Date());
		const rows = await sql.all<ClientRecord>(
			`UPDATE clients SET "version" = "version" + 1, "emailKey" = NULL, "deletedAt" = ?, "updatedAt" = ?
			 WHERE "id" = ? AND "deletedAt" IS NULL RETURNING ${CLIENT_COLUMNS}`,
			[now, now, id],
		);
		if (rows.length === 0) throw new EntityNotFoundError("Client", id);
		return clientRecord(rows[0]);
	}

	// --- reads (Sequelize's connection: committed data only) ---------------------------------

	async findAlive(id: number): Promise<ClientRecord | null> {
		const row = await this.clients.findOne({ where: { id, deletedAt: null }, raw: true });
		return row ? clientRecord(row as unknown as ClientRecord) : null;
	}

	async lookup(id: number): Promise<ClientLookup | null> {
		const row = await this.clients.findByPk(id, { raw: true });
		if (!row) return null;
		return { id, name: row.name, email: row.email, version: row.version, deleted: row.deletedAt !== null };
	}

	async listAlive(offset: number, limit: number): Promise<{ rows: ClientRecord[]; total: number }> {
		const { rows, count } = await this.clients.findAndCountAll({
			where: { deletedAt: null },
			order: [["id", "ASC"]],
			offset,
			limit,
			raw: true,
		});
		return { rows: rows.map((row) => clientRecord(row as unknown as ClientRecord)), total: count };
	}

	/** A client just created, as the API shows it: it cannot have goals yet. */
	presentNew(row: ClientRecord): Client {
		return {
			id: row.id,
			name: row.name,
			email: row.email,
			version: row.version,
			createdAt: row.createdAt.toISOString(),
			updatedAt: row.updatedAt.toISOString(),
			goals: [],
		};
	}

	/** Clients with their goals, as the API shows them; inside a write, read through its transaction. */
	async present(rows: ClientRecord[], sql?: Sql): Promise<Client[]> {
		const goals = await this.goalsOf(
			rows.map((row) => row.id),
			sql,
		);
		return rows.map((row) => ({
			id: row.id,
			name: row.name,
			email: row.email,
			version: row.version,
			createdAt: row.createdAt.toISOString(),
			updatedAt: row.updatedAt.toISOString(),
			goals: goals.get(row.id) ?? [],
		}));
	}

	// --- the goal projection -----------------------------------------------------------------

	/** The goal copies held for `goalIds`, locked for update. */
	async heldGoalCopies(sql: Sql, goalIds: number[]): Promise<Map<number, GoalCopy>> {
		const held = new Map<number, GoalCopy>();
		for (const ids of chunks(goalIds)) {
			const rows = await sql.all<GoalCopy>(
				`SELECT "goalId", "clientId", "goalName", "targetCents", "version", "deleted" FROM goal_projection
				 WHERE "goalId" IN (${ids.map(() => "?").join(", ")}) ORDER BY "goalId"${forUpdate(sql)}`,
				ids,
			);
			for (const row of rows) held.set(Number(row.goalId), goalCopy(row));
		}
		return held;
	}

	/**
	 * Save goal copies, each only over an older, living one (the guard again, in SQL, for
	 * replicas that decided at the same time). Returns the ids whose copy was saved.
	 */
	async saveGoalCopies(sql: Sql, copies: GoalCopy[]): Promise<Set<number>> {
		const saved = new Set<number>();
		const sorted = [...copies].sort((a, b) => a.goalId - b.goalId);
		for (const part of chunks(sorted)) {
			const rows = await sql.all<{ goalId: number }>(
				`INSERT INTO goal_projection ("goalId", "clientId", "goalName", "targetCents", "version", "deleted")
				 VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")}
				 ON CONFLICT ("goalId") DO UPDATE SET "clientId" = excluded."clientId", "goalName" = excluded."goalName",
				   "targetCents" = excluded."targetCents", "version" = excluded."version", "deleted" = excluded."deleted"
				 WHERE goal_projection."version" < excluded."version" AND NOT goal_projection."deleted"
				 RETURNING "goalId"`,
				part.flatMap((copy) => [copy.goalId, copy.clientId, copy.goalName, copy.targetCents, copy.version, copy.deleted]),
			);
			for (const row of rows) saved.add(Number(row.goalId));
		}
		return saved;
	}

	/** The goal copies with ids in (after, upTo] (upTo null: to the end), locked: a rebuild page's range. */
	async goalCopiesInRange(sql: Sql, after: number, upTo: number | null): Promise<Map<number, GoalCopy>> {
		const rows = await sql.all<GoalCopy>(
			`SELECT "goalId", "clientId", "goalName", "targetCents", "version", "deleted" FROM goal_projection
			 WHERE "goalId" > ?${upTo === null ? "" : ` AND "goalId" <= ?`} ORDER BY "goalId"${forUpdate(sql)}`,
			upTo === null ? [after] : [after, upTo],
		);
		return new Map(rows.map((row) => [Number(row.goalId), goalCopy(row)]));
	}

	/**
	 * A rebuild's write: each copy over the one held at its version or older, a tombstone too; a
	 * newer held copy stays. Returns the ids written.
	 */
	async overwriteGoalCopies(sql: Sql, copies: GoalCopy[]): Promise<Set<number>> {
		const saved = new Set<number>();
		for (const part of chunks([...copies].sort((a, b) => a.goalId - b.goalId))) {
			const rows = await sql.all<{ goalId: number }>(
				`INSERT INTO goal_projection ("goalId", "clientId", "goalName", "targetCents", "version", "deleted")
				 VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")}
				 ON CONFLICT ("goalId") DO UPDATE SET "clientId" = excluded."clientId", "goalName" = excluded."goalName",
				   "targetCents" = excluded."targetCents", "version" = excluded."version", "deleted" = excluded."deleted"
				 WHERE goal_projection."version" <= excluded."version"
				 RETURNING "goalId"`,
				part.flatMap((copy) => [copy.goalId, copy.clientId, copy.goalName, copy.targetCents, copy.version, copy.deleted]),
			);
			for (const row of rows) saved.add(Number(row.goalId));
		}
		return saved;
	}

	/** Remove goal copies the producer's snapshot does not have (a rebuild); returns their clients. */
	async removeGoalCopies(sql: Sql, goalIds: number[]): Promise<number[]> {
		const clients: number[] = [];
		for (const ids of chunks(goalIds)) {
			const rows = await sql.all<{ clientId: number }>(
				`DELETE FROM goal_projection WHERE "goalId" IN (${ids.map(() => "?").join(", ")}) RETURNING "clientId"`,
				ids,
			);
			clients.push(...rows.map((row) => Number(row.clientId)));
		}
		return clients;
	}

	/**
	 * Each client's living goals, its first CLIENT_GOALS_MAX by id: a client shown (alone or on
	 * a list page of 100) never carries an unbounded list. One statement for every client.
	 */
	private async goalsOf(clientIds: number[], sql?: Sql): Promise<Map<number, ClientGoal[]>> {
		const byClient = new Map<number, ClientGoal[]>();
		if (clientIds.length === 0) return byClient;
		const text = `SELECT "goalId", "clientId", "goalName", "targetCents" FROM (
			SELECT "goalId", "clientId", "goalName", "targetCents", ROW_NUMBER() OVER (PARTITION BY "clientId" ORDER BY "goalId") AS "rank"
			FROM goal_projection WHERE "clientId" IN (${clientIds.map(() => "?").join(", ")}) AND NOT "deleted"
		) ranked WHERE "rank" <= ? ORDER BY "goalId"`;
		const params = [...clientIds, CLIENT_GOALS_MAX];
		const rows: Array<{ goalId: number; clientId: number; goalName: string; targetCents: number | string }> = sql
			? await sql.all(text, params)
			: await this.sequelize.query(text, { replacements: params, type: QueryTypes.SELECT });
		for (const row of rows) {
			const clientId = Number(row.clientId);
			const list = byClient.get(clientId) ?? [];
			list.push({ id: Number(row.goalId), goalName: row.goalName, targetAmount: fromCents(row.targetCents) });
			byClient.set(clientId, list);
		}
		return byClient;
	}

	private async uniqueEmail<T>(email: string, write: () => Promise<T>): Promise<T> {
		try {
			return await write();
		} catch (err) {
			if (isUniqueViolation(err)) {
				throw new ConflictError(`A client with email '${email}' already exists`, { field: "email", email });
			}
			throw err;
		}
	}
}

export function clientEventFields(row: ClientRecord): ClientEventFields {
	return { clientId: row.id, clientName: row.name, clientEmail: row.email };
}

const CLIENT_COLUMNS = `"id", "name", "email", "version", "deletedAt", "createdAt", "updatedAt"`;

/** A row as read by either dialect, with its types made exact. */
function clientRecord(row: ClientRecord): ClientRecord {
	return {
		id: Number(row.id),
		name: row.name,
		email: row.email,
		version: Number(row.version),
		deletedAt: row.deletedAt === null || row.deletedAt === undefined ? null : readTime(row.deletedAt),
		createdAt: readTime(row.createdAt),
		updatedAt: readTime(row.updatedAt),
	};
}

function goalCopy(row: GoalCopy): GoalCopy {
	return {
		goalId: Number(row.goalId),
		clientId: Number(row.clientId),
		goalName: row.goalName,
		targetCents: Number(row.targetCents),
		version: Number(row.version),
		deleted: readBoolean(row.deleted),
	};
}
