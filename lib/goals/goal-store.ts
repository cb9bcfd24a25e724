/**
 * The goal service's tables: its goals, and its own copy of their clients kept from client
 * events and from the client checks at goal creation (the client projection). Callers run the
 * writes inside a transaction and settle effects after commit.
 */
import {
	DataTypes,
	InferAttributes,
	InferCreationAttributes,
	Model,
	ModelStatic,
	Transaction,
	type WhereOptions,
} from "sequelize";
import type { Database } from "../database";
import { EntityNotFoundError } from "../errors";
import type { GoalEventFields } from "../events";
import { fromCents } from "../money";

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

export interface ClientCopyRow extends Model<InferAttributes<ClientCopyRow>, InferCreationAttributes<ClientCopyRow>> {
	clientId: number;
	name: string;
	email: string;
	version: number;
	/** a tombstone: a late CREATED/UPDATED with a lower version can never bring it back */
	deleted: boolean;
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

/** A client's state after some version: from a client event or from the client service. */
export interface ClientState {
	clientId: number;
	name: string;
	email: string;
	version: number;
	deleted: boolean;
}

export class GoalStore {
	readonly goals: ModelStatic<GoalRow>;
	readonly clientCopies: ModelStatic<ClientCopyRow>;

	constructor(private readonly db: Database) {
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
			{ tableName: "goals", indexes: [{ fields: ["clientId"] }] },
		);
		this.clientCopies = db.sequelize.define<ClientCopyRow>(
			"ClientCopy",
			{
				clientId: { type: DataTypes.INTEGER, primaryKey: true },
				name: { type: DataTypes.STRING(100), allowNull: false },
				email: { type: DataTypes.STRING(254), allowNull: false },
				version: { type: DataTypes.INTEGER, allowNull: false },
				deleted: { type: DataTypes.BOOLEAN, allowNull: false },
			},
			{ tableName: "client_projection", timestamps: false },
		);
	}

	// --- the goal service's own entities -----------------------------------------------------

	async insert(
		tx: Transaction,
		values: { clientId: number; clientName: string; goalName: string; targetCents: number },
	): Promise<GoalRow> {
		return this.goals.create({ id: null, ...values, version: 1, deletedAt: null }, { transaction: tx });
	}

	async getForUpdate(tx: Transaction, id: number): Promise<GoalRow> {
		const row = await this.goals.findOne({ where: { id, deletedAt: null }, transaction: tx, lock: tx.LOCK.UPDATE });
		if (!row) throw new EntityNotFoundError("Goal", id);
		return row;
	}

	async update(tx: Transaction, row: GoalRow, changes: { goalName?: string; targetCents?: number }): Promise<GoalRow> {
		if (changes.goalName !== undefined) row.goalName = changes.goalName;
		if (changes.targetCents !== undefined) row.targetCents = changes.targetCents;
		row.version += 1;
		return row.save({ transaction: tx });
	}

	async markDeleted(tx: Transaction, row: GoalRow): Promise<GoalRow> {
		row.version += 1;
		row.deletedAt = new Date();
		return row.save({ transaction: tx });
	}

	async findAlive(id: number): Promise<GoalRow | null> {
		return this.goals.findOne({ where: { id, deletedAt: null } });
	}

	async listAlive(
		filter: { clientId?: number },
		offset: number,
		limit: number,
	): Promise<{ rows: GoalRow[]; total: number }> {
		const where: WhereOptions<GoalRow> = { deletedAt: null };
		if (filter.clientId !== undefined) where.clientId = filter.clientId;
		const { rows, count } = await this.goals.findAndCountAll({ where, order: [["id", "ASC"]], offset, limit });
		return { rows, total: count };
	}

	async allAliveOf(clientId: number): Promise<GoalRow[]> {
		return this.goals.findAll({ where: { clientId, deletedAt: null }, order: [["id", "ASC"]] });
	}

	// --- the client projection ---------------------------------------------------------------

	/** Serialise everything that reads or writes one client's copy (goal creation vs deletion). */
	lockClient(tx: Transaction, clientId: number): Promise<void> {
		return this.db.lock(tx, `client:${clientId}`);
	}

	async clientCopy(tx: Transaction | undefined, clientId: number): Promise<ClientCopyRow | null> {
		return this.clientCopies.findByPk(clientId, { transaction: tx, lock: tx ? tx.LOCK.UPDATE : undefined });
	}

	/** Store `state` if it is newer than what we hold; returns the previous copy when it changed, else false. */
	async upsertClientCopy(tx: Transaction, state: ClientState): Promise<{ previous: ClientCopyRow | null } | false> {
		const held = await this.clientCopy(tx, state.clientId);
		if (held && held.version >= state.version) return false;
		const previous = held ? (held.get({ clone: true }) as ClientCopyRow) : null;
		if (held) await held.update({ ...state }, { transaction: tx });
		else await this.clientCopies.create({ ...state }, { transaction: tx });
		return { previous };
	}

	/** The living goals of a client, locked for update (before any event-log append: lock order). */
	async aliveOfForUpdate(tx: Transaction, clientId: number): Promise<GoalRow[]> {
		return this.goals.findAll({
			where: { clientId, deletedAt: null },
			order: [["id", "ASC"]],
			transaction: tx,
			lock: tx.LOCK.UPDATE,
		});
	}

	/** Copy a client's new name onto its goals. This is not a change of the goals: no version, no event. */
	async renameClient(tx: Transaction, clientId: number, clientName: string): Promise<number[]> {
		const rows = await this.goals.findAll({ where: { clientId }, attributes: ["id"], transaction: tx });
		await this.goals.update({ clientName }, { where: { clientId }, transaction: tx, silent: true });
		return rows.map((row) => Number(row.id));
	}
}

export function presentGoal(row: GoalRow): Goal {
	return {
		id: Number(row.id),
		clientId: row.clientId,
		clientName: row.clientName,
		goalName: row.goalName,
		targetAmount: fromCents(row.targetCents),
		version: row.version,
		createdAt: (row.createdAt as Date).toISOString(),
		updatedAt: (row.updatedAt as Date).toISOString(),
	};
}

export function goalEventFields(row: GoalRow): GoalEventFields {
	return {
		goalId: Number(row.id),
		clientId: row.clientId,
		goalName: row.goalName,
		targetAmount: fromCents(row.targetCents),
	};
}
