/**
 * The client service's tables: its clients, and its own copy of their goals kept from goal
 * events (the goal projection). Nothing here publishes or touches the cache: callers run these
 * inside a transaction and settle the effects after commit.
 */
import {
	DataTypes,
	InferAttributes,
	InferCreationAttributes,
	Model,
	ModelStatic,
	Op,
	Transaction,
	UniqueConstraintError,
} from "sequelize";
import type { Database } from "../database";
import { ConflictError, EntityNotFoundError } from "../errors";
import type { ClientEventFields, GoalEvent } from "../events";
import { fromCents, toCents } from "../money";

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

export interface GoalCopyRow extends Model<InferAttributes<GoalCopyRow>, InferCreationAttributes<GoalCopyRow>> {
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

export class ClientStore {
	readonly clients: ModelStatic<ClientRow>;
	readonly goalCopies: ModelStatic<GoalCopyRow>;

	constructor(private readonly db: Database) {
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

	// --- the client service's own entities ---------------------------------------------------

	async insert(tx: Transaction, name: string, email: string): Promise<ClientRow> {
		return this.uniqueEmail(email, () =>
			this.clients.create(
				{ id: null, name, email, emailKey: email.toLowerCase(), version: 1, deletedAt: null },
				{ transaction: tx },
			),
		);
	}

	/** The living client, locked for update. */
	async getForUpdate(tx: Transaction, id: number): Promise<ClientRow> {
		const row = await this.clients.findOne({ where: { id, deletedAt: null }, transaction: tx, lock: tx.LOCK.UPDATE });
		if (!row) throw new EntityNotFoundError("Client", id);
		return row;
	}

	async update(tx: Transaction, row: ClientRow, changes: { name?: string; email?: string }): Promise<ClientRow> {
		if (changes.name !== undefined) row.name = changes.name;
		if (changes.email !== undefined) {
			row.email = changes.email;
			row.emailKey = changes.email.toLowerCase();
		}
		row.version += 1;
		return this.uniqueEmail(row.email, () => row.save({ transaction: tx }));
	}

	/** Soft delete: the row stays for its version and audit; the email is free again. */
	async markDeleted(tx: Transaction, row: ClientRow): Promise<ClientRow> {
		row.version += 1;
		row.emailKey = null;
		row.deletedAt = new Date();
		return row.save({ transaction: tx });
	}

	async findAlive(id: number): Promise<ClientRow | null> {
		return this.clients.findOne({ where: { id, deletedAt: null } });
	}

	async lookup(id: number): Promise<ClientLookup | null> {
		const row = await this.clients.findByPk(id);
		if (!row) return null;
		return { id, name: row.name, email: row.email, version: row.version, deleted: row.deletedAt !== null };
	}

	async listAlive(offset: number, limit: number): Promise<{ rows: ClientRow[]; total: number }> {
		const { rows, count } = await this.clients.findAndCountAll({
			where: { deletedAt: null },
			order: [["id", "ASC"]],
			offset,
			limit,
		});
		return { rows, total: count };
	}

	/** Clients with their goals, as the API shows them. */
	async present(rows: ClientRow[]): Promise<Client[]> {
		const goals = await this.goalsOf(rows.map((row) => Number(row.id)));
		return rows.map((row) => ({
			id: Number(row.id),
			name: row.name,
			email: row.email,
			version: row.version,
			createdAt: (row.createdAt as Date).toISOString(),
			updatedAt: (row.updatedAt as Date).toISOString(),
			goals: goals.get(Number(row.id)) ?? [],
		}));
	}

	// --- the goal projection -----------------------------------------------------------------

	/** Apply a goal event if it is newer than what we hold. Returns whether anything changed. */
	async applyGoalEvent(tx: Transaction, event: GoalEvent): Promise<boolean> {
		await this.db.lock(tx, `goal:${event.goalId}`);
		const held = await this.goalCopies.findByPk(event.goalId, { transaction: tx, lock: tx.LOCK.UPDATE });
		if (held && held.version >= event.version) return false;
		const state = {
			goalId: event.goalId,
			clientId: event.clientId,
			goalName: event.goalName,
			targetCents: toCents(event.targetAmount),
			version: event.version,
			deleted: event.eventType === "DELETED",
		};
		if (held) await held.update(state, { transaction: tx });
		else await this.goalCopies.create(state, { transaction: tx });
		return true;
	}

	private async goalsOf(clientIds: number[]): Promise<Map<number, ClientGoal[]>> {
		const byClient = new Map<number, ClientGoal[]>();
		if (clientIds.length === 0) return byClient;
		const rows = await this.goalCopies.findAll({
			where: { clientId: { [Op.in]: clientIds }, deleted: false },
			order: [["goalId", "ASC"]],
		});
		for (const row of rows) {
			const list = byClient.get(row.clientId) ?? [];
			list.push({ id: row.goalId, goalName: row.goalName, targetAmount: fromCents(row.targetCents) });
			byClient.set(row.clientId, list);
		}
		return byClient;
	}

	private async uniqueEmail<T>(email: string, write: () => Promise<T>): Promise<T> {
		try {
			return await write();
		} catch (err) {
			if (err instanceof UniqueConstraintError) {
				throw new ConflictError(`A client with email '${email}' already exists`, { field: "email", email });
			}
			throw err;
		}
	}
}

export function clientEventFields(row: ClientRow): ClientEventFields {
	return { clientId: Number(row.id), clientName: row.name, clientEmail: row.email };
}
