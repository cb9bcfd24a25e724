/**
 * The goal service's tables: its goals, and its own copy of their clients kept from client
 * events and from the client checks at goal creation (the client projection). Callers run the
 * writes inside a transaction and settle effects after commit.
 *
 * A write reads what its decision needs (lib/goals/decide.ts, pure), decides, and writes what was
 * decided, under the version guard.
 */
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic, type WhereOptions } from "sequelize";
import type { Database } from "../storage/database";
import type { ClientCopy } from "../domain/projection-rules";
import { ConflictError } from "../errors";
import type { EntityWrite } from "../event-log/entity-write";
import { CopyTable, type WithSaved } from "../storage/copy-table";
import { chunks, forUpdate, readBoolean, readTime, type Sql, sqlTime, sqlTimeOrNull } from "../storage/sql";
import type { EventDraft, StampSource } from "../domain/decision";
import { systemStamp } from "../event-log/event-log";
import { type CreateGoal, type DeleteGoal, decideCreateGoal, decideDeleteGoal, decideUpdateGoal, type GoalState, type UpdateGoal } from "./decide";
import type { GoalEventFields } from "../domain/events";
import { fromCents } from "../domain/money";

export interface GoalRow extends Model<InferAttributes<GoalRow>, InferCreationAttributes<GoalRow>> {
	id: number | null;
	clientId: number;
	/** copy of the client's name, kept from client events */
	clientName: string;
	goalName: string;
	targetCents: number;
	version: number;
	deletedAt: Date | null;
	createdAt?: Date;
	updatedAt?: Date;
}

/** A goal as the API shows it. */
export interface Goal {
	id: number;
	clientId: number;
	clientName: string;
	goalName: string;
	targetAmount: number;
	version: number;
	createdAt: string;
	updatedAt: string;
}

/** A goal as the write path holds it (lib/goals/decide.ts). */
export type GoalRecord = GoalState;

/** What a write decided and stored: the goal after it, and the event to append for it. */
export interface GoalWrite {
	row: GoalRecord;
	event: EventDraft;
}

/** A change of a goal held already: the row as decided, its event, and the change itself, unsent (it rides with the append). */
export interface GoalChange extends GoalWrite {
	write: EntityWrite;
}

export class GoalStore {
	readonly goals: ModelStatic<GoalRow>;
	/** the client projection: the goal service's copy of clients (lib/goals/client-projection.ts) */
	readonly clientCopies: CopyTable<ClientCopy>;

	/** @param stamp the clock and event ids of this store's decisions (a test's fixed ones, or the system's) */
	constructor(
		private readonly db: Database,
		private readonly stamp: StampSource = systemStamp,
	) {
		this.goals = db.sequelize.define<GoalRow>(
			"Goal",
			{
				id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
				clientId: { type: DataTypes.INTEGER, allowNull: false },
				clientName: { type: DataTypes.STRING(100), allowNull: false },
				goalName: { type: DataTypes.STRING(100), allowNull: false },
				targetCents: { type: DataTypes.BIGINT, allowNull: false },
				version: { type: DataTypes.INTEGER, allowNull: false },
				deletedAt: { type: DataTypes.DATE, allowNull: true },
			},
			{ tableName: "goals" },
		);
		this.clientCopies = new CopyTable<ClientCopy>({
			table: "client_projection",
			key: "clientId",
			columns: ["clientId", "name", "email", "version", "deleted"],
			read: clientCopy,
		});
	}

	// --- the goal service's own entities (writes: plain SQL inside the caller's transaction) ---

	/**
	 * A new goal, decided on our copy of its client read under its lock (a deletion may have
	 * arrived since the client service was asked), and inserted. 422 if the client is deleted, 503
	 * if nothing here knows it.
	 */
	async create(sql: Sql, command: CreateGoal, known?: ClientCopy): Promise<GoalWrite> {
		// the copy the caller holds already (locked in this transaction), or read here
		const client = known ?? (await this.clientCopies.held(sql, [command.clientId])).get(command.clientId);
		const { state, event } = decideCreateGoal(client, command, this.stamp());
		const rows = await sql.all<{ id: number }>(
			`INSERT INTO goals ("clientId", "clientName", "goalName", "targetCents", "version", "deletedAt", "createdAt", "updatedAt")
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING "id"`,
			[
				state.clientId,
				state.clientName,
				state.goalName,
				state.targetCents,
				state.version,
				sqlTimeOrNull(sql, state.deletedAt),
				sqlTime(sql, state.createdAt),
				sqlTime(sql, state.updatedAt),
			],
		);
		return { row: { id: Number(rows[0].id), ...state }, event };
	}

	/**
	 * Change a goal: read it (locked), decide, write. 404 if absent or deleted. The decision needs
	 * the row first: a SELECT the UPDATE … RETURNING that decided in SQL did without (on
	 * PostgreSQL the append's lock, now in its INSERT, makes up for it).
	 */
	async update(sql: Sql, command: UpdateGoal): Promise<GoalChange> {
		const current = await this.held(sql, command.id);
		const { state, event } = decideUpdateGoal(current, command, this.stamp());
		return { row: state, event, write: this.change(sql, current as GoalRecord, state) };
	}

	/** Soft delete: read it (locked), decide, write. 404 if absent or deleted. */
	async remove(sql: Sql, command: DeleteGoal): Promise<GoalChange> {
		const current = await this.held(sql, command.id);
		const { state, event } = decideDeleteGoal(current, command, this.stamp());
		return { row: state, event, write: this.change(sql, current as GoalRecord, state) };
	}

	/** A goal, deleted or not, locked for the write that reads it. */
	private async held(sql: Sql, id: number): Promise<GoalRecord | null> {
		const rows = await sql.all<GoalRecord>(`SELECT ${GOAL_COLUMNS} FROM goals WHERE "id" = ?${forUpdate(sql)}`, [id]);
		return rows.length > 0 ? goalRecord(rows[0]) : null;
	}

	/**
	 * A decided goal written over the one it was decided from, only if that is still the stored
	 * version: the version guard, the last line of defence (the row is locked on PostgreSQL, and
	 * SQLite's one writer runs one write at a time, so only a fault elsewhere trips it). The
	 * client's name is not written: client events keep it (renameGoalsOf), and the lock holds
	 * them off until this write commits. Unsent: the event's append carries it
	 * (lib/event-log/entity-write.ts).
	 */
	private change(sql: Sql, from: GoalRecord, to: GoalRecord): EntityWrite {
		return {
			text: `UPDATE goals SET "goalName" = ?, "targetCents" = ?, "version" = ?, "deletedAt" = ?, "updatedAt" = ? WHERE "id" = ? AND "version" = ?`,
			params: [to.goalName, to.targetCents, to.version, sqlTimeOrNull(sql, to.deletedAt), sqlTime(sql, to.updatedAt), to.id, from.version],
			conflict: () => new ConflictError(`Goal ${to.id} was changed by another write meanwhile; try again`, { entity: "Goal", id: to.id }),
		};
	}

	// --- reads (Sequelize's connection: committed data only) ---------------------------------

	async findAlive(id: number): Promise<GoalRecord | null> {
		const [row] = await this.db.read<GoalRecord>(`SELECT ${GOAL_COLUMNS} FROM goals WHERE "id" = ? AND "deletedAt" IS NULL`, [id]);
		return row ? goalRecord(row) : null;
	}

	async listAlive(filter: { clientId?: number }, offset: number, limit: number): Promise<{ rows: GoalRecord[]; total: number }> {
		const where: WhereOptions<GoalRow> = { deletedAt: null };
		if (filter.clientId !== undefined) where.clientId = filter.clientId;
		const { rows, count } = await this.goals.findAndCountAll({ where, order: [["id", "ASC"]], offset, limit, raw: true });
		return { rows: rows.map((row) => goalRecord(row as unknown as GoalRecord)), total: count };
	}

	/** A client's living goals, the first `limit` by id (GET /goals?clientId= pages through all). */
	async aliveOf(clientId: number, limit: number): Promise<GoalRecord[]> {
		const rows = await this.goals.findAll({ where: { clientId, deletedAt: null }, order: [["id", "ASC"]], limit, raw: true });
		return rows.map((row) => goalRecord(row as unknown as GoalRecord));
	}

	// --- what the client copies do to the goals (inside the client projection's transaction) ---

	/**
	 * Copy each client's name, as its copy now holds it, onto all its goals. This is not a
	 * change of the goals: no version, no event, no updatedAt. Returns the goal ids touched.
	 */
	async renameGoalsOf(sql: Sql, clientIds: number[]): Promise<number[]> {
		const touched: number[] = [];
		for (const ids of chunks(clientIds)) {
			const rows = await sql.all<{ id: number }>(
				`UPDATE goals SET "clientName" = (SELECT c."name" FROM client_projection c WHERE c."clientId" = goals."clientId")
				 WHERE "clientId" IN (${ids.map(() => "?").join(", ")}) RETURNING "id"`,
				ids,
			);
			touched.push(...rows.map((row) => Number(row.id)));
		}
		return touched;
	}

	/**
	 * renameGoalsOf riding along with the client copies' save (lib/storage/copy-table.ts,
	 * WithSaved): the names the save wrote, onto the goals of these clients it saved.
	 */
	renameGoalsWithSaved(clientIds: number[]): WithSaved {
		return {
			text: `UPDATE goals SET "clientName" = s."name" FROM "saved" s
				WHERE goals."clientId" = s."clientId" AND s."clientId" IN (${clientIds.map(() => "?").join(", ")}) RETURNING goals."id" AS "id"`,
			params: clientIds,
		};
	}

	/**
	 * Delete the living goals of these clients (a client's tombstone, cascading): read them locked,
	 * decide each as a DELETE of it (decideDeleteGoal: version + 1, at one time for the cascade),
	 * and write them in one statement per 200 under each goal's version guard. Returns each goal
	 * as deleted with its event, by id.
	 */
	async deleteGoalsOf(sql: Sql, clientIds: number[]): Promise<GoalWrite[]> {
		const writes: GoalWrite[] = [];
		for (const ids of chunks(clientIds)) {
			const rows = await sql.all<GoalRecord>(
				`SELECT ${GOAL_COLUMNS} FROM goals WHERE "clientId" IN (${ids.map(() => "?").join(", ")}) AND "deletedAt" IS NULL ORDER BY "id"${forUpdate(sql)}`,
				ids,
			);
			const first = this.stamp();
			const decided = rows.map(goalRecord).map((held, index) => {
				// one time for the whole cascade, an event id each
				const stamp = index === 0 ? first : { now: first.now, eventId: this.stamp().eventId };
				return { held, ...decideDeleteGoal(held, { id: held.id }, stamp) };
			});
			for (const part of chunks(decided, 200)) {
				// each goal's decided version, and its held one as the guard: id → version, in SQL both dialects read
				const byId = part.map(() => "WHEN ? THEN CAST(? AS INTEGER)").join(" ");
				const changed = await sql.run(
					`UPDATE goals SET "version" = CASE "id" ${byId} END, "deletedAt" = ?, "updatedAt" = ?
					 WHERE "id" IN (${part.map(() => "?").join(", ")}) AND "version" = CASE "id" ${byId} END`,
					[
						...part.flatMap((one) => [one.held.id, one.state.version]),
						sqlTime(sql, first.now),
						sqlTime(sql, first.now),
						...part.map((one) => one.held.id),
						...part.flatMap((one) => [one.held.id, one.held.version]),
					],
				);
				if (changed !== part.length) throw new ConflictError("Goals of a deleted client were changed by another write meanwhile; try again", {});
			}
			writes.push(...decided.map(({ state, event }) => ({ row: state, event })));
		}
		return writes.sort((a, b) => a.row.id - b.row.id);
	}
}

export function presentGoal(row: GoalRecord): Goal {
	return {
		id: row.id,
		clientId: row.clientId,
		clientName: row.clientName,
		goalName: row.goalName,
		targetAmount: fromCents(row.targetCents),
		version: row.version,
		createdAt: row.createdAt.toISOString(),
		updatedAt: row.updatedAt.toISOString(),
	};
}

const GOAL_COLUMNS = `"id", "clientId", "clientName", "goalName", "targetCents", "version", "deletedAt", "createdAt", "updatedAt"`;

/** A row as read by either dialect, with its types made exact. */
function goalRecord(row: GoalRecord): GoalRecord {
	return {
		id: Number(row.id),
		clientId: Number(row.clientId),
		clientName: row.clientName,
		goalName: row.goalName,
		targetCents: Number(row.targetCents),
		version: Number(row.version),
		deletedAt: row.deletedAt === null || row.deletedAt === undefined ? null : readTime(row.deletedAt),
		createdAt: readTime(row.createdAt),
		updatedAt: readTime(row.updatedAt),
	};
}

function clientCopy(row: ClientCopy): ClientCopy {
	return {
		clientId: Number(row.clientId),
		name: row.name,
		email: row.email,
		version: Number(row.version),
		deleted: readBoolean(row.deleted),
	};
}

export function goalEventFields(row: GoalRecord): GoalEventFields {
	return {
		goalId: row.id,
		clientId: row.clientId,
		goalName: row.goalName,
		targetAmount: fromCents(row.targetCents),
	};
}
