/**
 * The client service's tables: its clients, and its own copy of their goals kept from goal
 * events (the goal projection). Nothing here publishes or touches the cache: callers run these
 * inside a transaction and settle the effects after commit.
 *
 * A write reads what its decision needs (lib/clients/decide.ts, pure), decides, and writes what
 * was decided, under the version guard and the unique index on a living client's email.
 */
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic } from "sequelize";
import type { Database } from "../storage/database";
import { CLIENT_GOALS_MAX } from "../constants";
import { ConflictError } from "../errors";
import type { EntityWrite } from "../event-log/entity-write";
import type { ClientEventFields } from "../domain/events";
import type { EventDraft, StampSource } from "../domain/decision";
import { systemStamp } from "../event-log/event-log";
import {
	type ClientState,
	type CreateClient,
	type DeleteClient,
	decideCreateClient,
	decideDeleteClient,
	decideUpdateClient,
	emailTaken,
	type UpdateClient,
} from "./decide";
import { fromCents } from "../domain/money";
import { CopyTable } from "../storage/copy-table";
import { forUpdate, isUniqueViolation, onTable, readBoolean, readTime, type Sql, sqlTime, sqlTimeOrNull } from "../storage/sql";

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

/** A client as the write path holds it (lib/clients/decide.ts). */
export type ClientRecord = ClientState;

/** What a write decided and stored: the client after it, and the event to append for it. */
export interface ClientWrite {
	row: ClientRecord;
	event: EventDraft;
}

/** A change of a client held already: the row as decided, its event, and the change itself, unsent (it rides with the append). */
export interface ClientChange extends ClientWrite {
	write: EntityWrite;
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

/** A row of heldWithGoals: the client, the email's other holder, and one of its goals (none: nulls). */
type HeldRow = ClientRecord & { emailHolder: number | null; goalId: number | null; goalName: string | null; targetCents: number | string | null };

export class ClientStore {
	readonly clients: ModelStatic<ClientRow>;
	/** the goal projection: the client service's copy of goals (lib/clients/goal-projection.ts) */
	readonly goalCopies: CopyTable<GoalCopy>;
	/** for the reads that are plain SQL (Database.read) */
	private readonly db: Database;

	/** @param stamp the clock and event ids of this store's decisions (a test's fixed ones, or the system's) */
	constructor(
		db: Database,
		private readonly stamp: StampSource = systemStamp,
	) {
		this.db = db;
		this.clients = db.sequelize.define<ClientRow>(
			"Client",
			{
				id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
				name: { type: DataTypes.STRING(100), allowNull: false },
				email: { type: DataTypes.STRING(254), allowNull: false },
				emailKey: { type: DataTypes.STRING(254), allowNull: true },
				version: { type: DataTypes.INTEGER, allowNull: false },
				deletedAt: { type: DataTypes.DATE, allowNull: true },
			},
			{ tableName: "clients" },
		);
		this.goalCopies = new CopyTable<GoalCopy>({
			table: "goal_projection",
			key: "goalId",
			columns: ["goalId", "clientId", "goalName", "targetCents", "version", "deleted"],
			read: goalCopy,
		});
	}

	// --- the client service's own entities (writes: plain SQL inside the caller's transaction) ---

	/**
	 * A new client, decided and inserted: one statement, whose unique index on the lower-cased
	 * email is the check that it is free (409 otherwise).
	 */
	async create(sql: Sql, command: CreateClient): Promise<ClientWrite> {
		const { state, event } = decideCreateClient(command, this.stamp());
		const rows = await this.uniqueEmail(state.email, () =>
			sql.all<{ id: number }>(
				`INSERT INTO clients ("name", "email", "emailKey", "version", "deletedAt", "createdAt", "updatedAt")
				 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING "id"`,
				[
					state.name,
					state.email,
					emailKeyOf(state),
					state.version,
					sqlTimeOrNull(sql, state.deletedAt),
					sqlTime(sql, state.createdAt),
					sqlTime(sql, state.updatedAt),
				],
			),
		);
		return { row: { id: Number(rows[0].id), ...state }, event };
	}

	/**
	 * Change a client: read it (locked) with the holder of the new email and its goals, decide,
	 * write. The goals are what the answer shows; read with the client, the decision's read costs
	 * no statement of its own. The client as the API shows it; 404 if absent or deleted, 409 if the
	 * email is taken.
	 */
	async update(sql: Sql, command: UpdateClient): Promise<ClientChange & { client: Client }> {
		const held = await this.heldWithGoals(sql, command.id, command.email);
		const { state, event } = decideUpdateClient(held.client, command, held.emailHolder, this.stamp());
		return { row: state, event, client: presentOne(state, held.goals), write: this.change(sql, held.client as ClientRecord, state) };
	}

	/**
	 * Soft delete: the row stays for its version and audit; the email is free again. 404 if absent
	 * or deleted. The decision needs the row first: a SELECT the UPDATE … RETURNING that decided in
	 * SQL did without (on PostgreSQL the append's lock, now in its INSERT, makes up for it).
	 */
	async remove(sql: Sql, command: DeleteClient): Promise<ClientChange> {
		const rows = await sql.all<ClientRecord>(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE "id" = ?${forUpdate(sql)}`, [command.id]);
		const current = rows.length > 0 ? clientRecord(rows[0]) : null;
		const { state, event } = decideDeleteClient(current, command, this.stamp());
		return { row: state, event, write: this.change(sql, current as ClientRecord, state) };
	}

	/**
	 * The client (locked), the living client holding `email` if it is another one, and the
	 * client's first CLIENT_GOALS_MAX living goals by id (what the answer shows): one statement,
	 * a row per goal.
	 */
	private async heldWithGoals(
		sql: Sql,
		id: number,
		email: string | undefined,
	): Promise<{ client: ClientRecord | null; emailHolder: number | null; goals: ClientGoal[] }> {
		const rows = await sql.all<HeldRow>(
			`SELECT c."id", c."name", c."email", c."version", c."deletedAt", c."createdAt", c."updatedAt",
			   (SELECT o."id" FROM clients o WHERE o."emailKey" = ? AND o."id" <> c."id") AS "emailHolder",
			   g."goalId", g."goalName", g."targetCents"
			 FROM clients c LEFT JOIN goal_projection g ON g."clientId" = c."id" AND g."goalId" IN (
			   SELECT "goalId" FROM goal_projection WHERE "clientId" = ? AND NOT "deleted" ORDER BY "goalId" LIMIT ?)
			 WHERE c."id" = ? ORDER BY g."goalId"${forUpdate(sql, "c")}`,
			[email?.toLowerCase() ?? null, id, CLIENT_GOALS_MAX, id],
		);
		if (rows.length === 0) return { client: null, emailHolder: null, goals: [] };
		const goals: ClientGoal[] = [];
		for (const row of rows) {
			if (row.goalId !== null && row.goalName !== null && row.targetCents !== null) {
				goals.push({ id: Number(row.goalId), goalName: row.goalName, targetAmount: fromCents(row.targetCents) });
			}
		}
		const holder = rows[0].emailHolder;
		return { client: clientRecord(rows[0]), emailHolder: holder === null ? null : Number(holder), goals };
	}

	/**
	 * A decided client written over the one it was decided from, only if that is still the stored
	 * version: the version guard, the last line of defence (the row is locked on PostgreSQL, and
	 * SQLite's one writer runs one write at a time, so only a fault elsewhere trips it). Unsent:
	 * the event's append carries it (lib/event-log/entity-write.ts). A unique email refused: 409.
	 */
	private change(sql: Sql, from: ClientRecord, to: ClientRecord): EntityWrite {
		return {
			text: `UPDATE clients SET "name" = ?, "email" = ?, "emailKey" = ?, "version" = ?, "deletedAt" = ?, "updatedAt" = ?
			 WHERE "id" = ? AND "version" = ?`,
			params: [to.name, to.email, emailKeyOf(to), to.version, sqlTimeOrNull(sql, to.deletedAt), sqlTime(sql, to.updatedAt), to.id, from.version],
			conflict: () => new ConflictError(`Client ${to.id} was changed by another write meanwhile; try again`, { entity: "Client", id: to.id }),
			refused: (err) => (isUniqueViolation(err) && onTable(err, "clients") ? emailTaken(to.email) : err),
		};
	}

	// --- reads (Sequelize's connection: committed data only) ---------------------------------

	async findAlive(id: number): Promise<ClientRecord | null> {
		const [row] = await this.db.read<ClientRecord>(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE "id" = ? AND "deletedAt" IS NULL`, [id]);
		return row ? clientRecord(row) : null;
	}

	/** What goal creation asks of every new goal's client (its synchronous check): one plain statement. */
	async lookup(id: number): Promise<ClientLookup | null> {
		const [row] = await this.db.read<ClientRecord>(`SELECT "name", "email", "version", "deletedAt" FROM clients WHERE "id" = ?`, [id]);
		if (!row) return null;
		return { id, name: row.name, email: row.email, version: Number(row.version), deleted: row.deletedAt !== null && row.deletedAt !== undefined };
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
		return presentOne(row, []);
	}

	/** Clients with their goals, as the API shows them; inside a write, read through its transaction. */
	async present(rows: ClientRecord[], sql?: Sql): Promise<Client[]> {
		const goals = await this.goalsOf(
			rows.map((row) => row.id),
			sql,
		);
		return rows.map((row) => presentOne(row, goals.get(row.id) ?? []));
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
			: await this.db.read(text, params);
		for (const row of rows) {
			const clientId = Number(row.clientId);
			const list = byClient.get(clientId) ?? [];
			list.push({ id: Number(row.goalId), goalName: row.goalName, targetAmount: fromCents(row.targetCents) });
			byClient.set(clientId, list);
		}
		return byClient;
	}

	/** The unique index on a living client's lower-cased email refused the write: 409. */
	private async uniqueEmail<T>(email: string, write: () => Promise<T>): Promise<T> {
		try {
			return await write();
		} catch (err) {
			if (isUniqueViolation(err)) throw emailTaken(email);
			throw err;
		}
	}
}

export function clientEventFields(row: ClientRecord): ClientEventFields {
	return { clientId: row.id, clientName: row.name, clientEmail: row.email };
}

const CLIENT_COLUMNS = `"id", "name", "email", "version", "deletedAt", "createdAt", "updatedAt"`;

/** The unique index's key: the lower-cased email while the client is alive, none once deleted (its email is free again). */
function emailKeyOf(client: Omit<ClientRecord, "id">): string | null {
	return client.deletedAt === null ? client.email.toLowerCase() : null;
}

function presentOne(row: ClientRecord, goals: ClientGoal[]): Client {
	return {
		id: row.id,
		name: row.name,
		email: row.email,
		version: row.version,
		createdAt: row.createdAt.toISOString(),
		updatedAt: row.updatedAt.toISOString(),
		goals,
	};
}

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
