/**
 * The relay's position in its own producer's event log: the highest sequence the broker has
 * confirmed, with everything below it confirmed too. It lives in the producer's database (table
 * `relay_checkpoint`, one row per producer), so every replica sharing that database reads the
 * same one, and the replica that takes the relay over starts where the last one stopped.
 */
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic } from "sequelize";
import type { Source } from "../constants";
import type { Database } from "../storage/database";

interface RelayCheckpointRow extends Model<InferAttributes<RelayCheckpointRow>, InferCreationAttributes<RelayCheckpointRow>> {
	source: string;
	sequence: number;
}

export class RelayCheckpoint {
	readonly model: ModelStatic<RelayCheckpointRow>;

	constructor(
		private readonly db: Database,
		private readonly source: Source,
	) {
		this.model = db.sequelize.define<RelayCheckpointRow>(
			"RelayCheckpoint",
			{
				source: { type: DataTypes.STRING(32), primaryKey: true },
				sequence: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			},
			{ tableName: "relay_checkpoint", timestamps: false },
		);
	}

	/** What is committed now (0 before the first confirm). */
	async read(): Promise<number> {
		const row = await this.model.findByPk(this.source, { raw: true });
		return row ? Number(row.sequence) : 0;
	}

	/** Move forward to `sequence`; never backwards, whoever wrote last. One statement, one round trip: it runs once per page the relay sends. */
	async moveTo(sequence: number): Promise<void> {
		await this.db.statement(
			`INSERT INTO relay_checkpoint ("source", "sequence") VALUES (?, ?)
			 ON CONFLICT ("source") DO UPDATE SET "sequence" = excluded."sequence" WHERE relay_checkpoint."sequence" < excluded."sequence"`,
			[this.source, sequence],
		);
	}
}
