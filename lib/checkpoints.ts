/**
 * A consumer's position in a producer's log: the highest sequence applied with nothing missing
 * below it. It lives in the consumer's own database and is written in the same transaction as
 * the projection change, so a crash can never leave one without the other.
 */
import { DataTypes, InferAttributes, InferCreationAttributes, Model, ModelStatic, Op, Transaction } from "sequelize";
import type { Source } from "./constants";
import type { Database } from "./database";

interface CheckpointRow extends Model<InferAttributes<CheckpointRow>, InferCreationAttributes<CheckpointRow>> {
	producer: string;
	sequence: number;
}

/** What a live event did to the checkpoint. */
export type Advance = "advanced" | "seen" | "gap";

export class Checkpoints {
	readonly model: ModelStatic<CheckpointRow>;

	constructor(private readonly db: Database) {
		this.model = db.sequelize.define<CheckpointRow>(
			"Checkpoint",
			{
				producer: { type: DataTypes.STRING(32), primaryKey: true },
				sequence: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			},
			{ tableName: "checkpoints", timestamps: false },
		);
	}

	async ensure(producer: Source): Promise<void> {
		// through Database.transaction: on SQLite, writes must take their turn
		await this.db.transaction((tx) => this.model.findOrCreate({ where: { producer }, defaults: { producer, sequence: 0 }, transaction: tx }));
	}

	async get(producer: Source, tx?: Transaction): Promise<number> {
		const row = await this.model.findByPk(producer, { transaction: tx });
		return row ? Number(row.sequence) : 0;
	}

	/** Advance by one if `sequence` is the next one; otherwise say whether it was seen or leaves a gap. */
	async advance(tx: Transaction, producer: Source, sequence: number): Promise<Advance> {
		const [moved] = await this.model.update(
			{ sequence },
			{ where: { producer, sequence: sequence - 1 }, transaction: tx },
		);
		if (moved > 0) return "advanced";
		return (await this.get(producer, tx)) >= sequence ? "seen" : "gap";
	}

	/** Move forward to `sequence` (catch-up applied everything up to it); never backwards. */
	async moveTo(tx: Transaction, producer: Source, sequence: number): Promise<void> {
		await this.model.update(
			{ sequence },
			{ where: { producer, sequence: { [Op.lt]: sequence } }, transaction: tx },
		);
	}
}
