/**
 * A consumer's position in a producer's log: the highest sequence applied with nothing missing
 * below it. It lives in the consumer's own database and is written in the same transaction as
 * the projection change, so a crash can never leave one without the other.
 *
 * No row is "no checkpoint": a new consumer, or one reset by deleting its row. Its first
 * catch-up starts from the producer's snapshot and writes the row (lib/consumer/catch-up.ts); a row
 * at 0 is a consumer that follows the log from its start.
 */
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic } from "sequelize";
import type { Source } from "../constants";
import type { Closing } from "../storage/copy-table";
import type { Database } from "../storage/database";
import type { Sql } from "../storage/sql";

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

	/** A checkpoint at 0 where there is none: this consumer follows the log from its start (no snapshot). */
	async ensure(producer: Source): Promise<void> {
		await this.db.transaction((sql) =>
			sql.run(`INSERT INTO checkpoints ("producer", "sequence") VALUES (?, 0) ON CONFLICT ("producer") DO NOTHING`, [producer]),
		);
	}

	/** Outside a transaction: what the read connection sees committed (0 when there is none). */
	async read(producer: Source): Promise<number> {
		return (await this.find(producer)) ?? 0;
	}

	/** Outside a transaction: the checkpoint, or null when there is none (new or reset). */
	async find(producer: Source): Promise<number | null> {
		const row = await this.model.findByPk(producer, { raw: true });
		return row ? Number(row.sequence) : null;
	}

	async get(sql: Sql, producer: Source): Promise<number> {
		const rows = await sql.all<{ sequence: number }>(`SELECT "sequence" FROM checkpoints WHERE "producer" = ?`, [producer]);
		return rows.length > 0 ? Number(rows[0].sequence) : 0;
	}

	/**
	 * Advance over `sequences` (applied in this transaction) as far as they continue the
	 * checkpoint without a hole. Says whether one of them lies beyond a hole (a missed event).
	 * `last`: this is the transaction's last statement, and on PostgreSQL the usual case (one
	 * run) sends the COMMIT with it (Sql.allAndCommit); any other case leaves the COMMIT to the caller.
	 */
	async advance(sql: Sql, producer: Source, sequences: readonly number[], options: { last?: boolean } = {}): Promise<Advance> {
		// The usual case, one statement: the sequences are one run. Anything else is read and decided below.
		const run = contiguousRun(sequences);
		if (run && sql.dialect === "postgres") {
			// the checkpoint as it was, and moved to the run's end if the run continues it: decided from that one answer
			const { ctes, params, answer } = advanceRun(producer, run);
			const text = `WITH ${ctes} SELECT "id" FROM "${answer}"`;
			const rows = options.last ? await sql.allAndCommit<{ id: number }>(text, params) : await sql.all<{ id: number }>(text, params);
			return advanceOverRun(rows.length > 0 ? Number(rows[0].id) : null, run);
		}
		if (run) {
			const moved = await sql.run(`UPDATE checkpoints SET "sequence" = ? WHERE "producer" = ? AND "sequence" >= ? AND "sequence" < ?`, [
				run.last,
				producer,
				run.first - 1,
				run.last,
			]);
			if (moved > 0) return "advanced";
		}
		const rows = await sql.all<{ sequence: number }>(`SELECT "sequence" FROM checkpoints WHERE "producer" = ?`, [producer]);
		// no checkpoint yet: nothing to advance; a catch-up starts from the snapshot and writes it
		if (rows.length === 0) return "gap";
		const current = Number(rows[0].sequence);
		const { position, gap } = advanceOver(current, sequences);
		if (position > current) await this.moveTo(sql, producer, position);
		return gap ? "gap" : position > current ? "advanced" : "seen";
	}

	/**
	 * `advance` as the end of a save's statement (lib/storage/copy-table.ts, Closing): the same
	 * UPDATE, riding in the save's message with the COMMIT. Only for one run on PostgreSQL (null
	 * otherwise: the caller runs `advance`). `read` decides from the closing's answer.
	 */
	closingAdvance(sql: Sql, producer: Source, sequences: readonly number[]): { closing: Closing; read(answer: number[]): Advance } | null {
		const run = contiguousRun(sequences);
		if (!run || sql.dialect !== "postgres") return null;
		return {
			closing: advanceRun(producer, run),
			read: (answer) => advanceOverRun(answer.length > 0 ? answer[0] : null, run),
		};
	}

	/**
	 * At least `sequence`: a snapshot valid at it is applied. Writes the checkpoint where there was
	 * none (a bootstrap); never moves one backwards.
	 */
	async placeAt(sql: Sql, producer: Source, sequence: number): Promise<void> {
		await sql.run(
			`INSERT INTO checkpoints ("producer", "sequence") VALUES (?, ?)
			 ON CONFLICT ("producer") DO UPDATE SET "sequence" = excluded."sequence" WHERE checkpoints."sequence" < excluded."sequence"`,
			[producer, sequence],
		);
	}

	/**
	 * At most `sequence` (a rebuild from a snapshot at it): the log after it is read again, so
	 * nothing a live event did meanwhile can be lost to the rebuild overwriting it.
	 */
	async rewindTo(sql: Sql, producer: Source, sequence: number): Promise<void> {
		await sql.run(`UPDATE checkpoints SET "sequence" = ? WHERE "producer" = ? AND "sequence" > ?`, [sequence, producer, sequence]);
	}

	/** Move forward to `sequence` (catch-up applied everything up to it); never backwards. */
	async moveTo(sql: Sql, producer: Source, sequence: number): Promise<void> {
		await sql.run(`UPDATE checkpoints SET "sequence" = ? WHERE "producer" = ? AND "sequence" < ?`, [sequence, producer, sequence]);
	}
}

/**
 * Move the checkpoint to the run's end if the run continues it, answering where it stood before
 * (`"id"` of the CTE `checkpoint`; no row: there is none). PostgreSQL: the row is locked first, so
 * the answer is the row as it was when this transaction moved it.
 */
function advanceRun(producer: Source, run: { first: number; last: number }): Closing {
	return {
		ctes: `"checkpoint_before" AS (SELECT "sequence" FROM checkpoints WHERE "producer" = ? FOR UPDATE),
			"checkpoint" AS (UPDATE checkpoints SET "sequence" = CASE WHEN b."sequence" >= ? AND b."sequence" < ? THEN ? ELSE b."sequence" END
			FROM "checkpoint_before" b WHERE checkpoints."producer" = ? RETURNING b."sequence" AS "id")`,
		params: [producer, run.first - 1, run.last, run.last, producer],
		answer: "checkpoint",
	};
}

/** The checkpoint after `sequences` were applied: moved over the run that continues it. Pure. */
export function advanceOver(current: number, sequences: readonly number[]): { position: number; gap: boolean } {
	const ahead = [...new Set(sequences)].filter((sequence) => sequence > current).sort((a, b) => a - b);
	let position = current;
	for (const sequence of ahead) {
		if (sequence !== position + 1) break;
		position = sequence;
	}
	return { position, gap: ahead.some((sequence) => sequence > position) };
}

/**
 * What applying one run (first..last) did to a checkpoint that stood at `before` (null: none, so
 * nothing to advance): the same answer as advanceOver gives for those sequences. Pure.
 */
export function advanceOverRun(before: number | null, run: { first: number; last: number }): Advance {
	if (before === null || before < run.first - 1) return "gap";
	return before < run.last ? "advanced" : "seen";
}

/** `sequences` as one run without a hole (first..last, duplicates allowed), or null. Pure. */
export function contiguousRun(sequences: readonly number[]): { first: number; last: number } | null {
	if (sequences.length === 0) return null;
	const distinct = [...new Set(sequences)].sort((a, b) => a - b);
	const first = distinct[0];
	const last = distinct[distinct.length - 1];
	return last - first + 1 === distinct.length ? { first, last } : null;
}
