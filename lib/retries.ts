/**
 * A consumer's durable retry table and dead letters. A handler failure never escapes to the
 * transporter (Moleculer would ack the message anyway): the event is recorded here, in the
 * consumer's own database and in the same transaction that moves its checkpoint past the event,
 * so the queue and the log keep flowing while this event is retried with backoff:
 * 1 s, 2 s, … (×2, at most 10 s) for 3 attempts in all, then it is a dead letter, kept until
 * an operator retries it. Version guards make a late retry of an old event harmless.
 */
import {
	DataTypes,
	InferAttributes,
	InferCreationAttributes,
	Model,
	ModelStatic,
	Op,
	Transaction,
} from "sequelize";
import type { Source } from "./constants";
import type { Database } from "./database";
import type { DomainEvent } from "./events";

export const RETRY_POLICY = { attempts: 3, firstDelayMs: 1000, factor: 2, maxDelayMs: 10_000 } as const;

/** Delay before the next attempt, after `failed` failed attempts (1 → 1 s, 2 → 2 s, 3 → 4 s …). */
export function backoffMs(failed: number): number {
	return Math.min(RETRY_POLICY.firstDelayMs * RETRY_POLICY.factor ** (failed - 1), RETRY_POLICY.maxDelayMs);
}

export type RetryStatus = "pending" | "dead";

export interface RetryRow extends Model<InferAttributes<RetryRow>, InferCreationAttributes<RetryRow>> {
	id: number | null;
	producer: string;
	eventId: string;
	sequence: number;
	payload: string;
	/** attempts made so far, the original delivery included */
	attempts: number;
	status: RetryStatus;
	nextAttemptAt: Date;
	lastError: string;
	createdAt?: Date;
	updatedAt?: Date;
}

/** A dead letter as the admin API and the REPL show it. */
export interface DeadLetter {
	id: string;
	consumer: string;
	producer: string;
	attempts: number;
	lastError: string;
	failedAt: string;
	event: DomainEvent;
}

function describe(err: unknown): string {
	const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
	return text.slice(0, 1000);
}

export class RetryStore {
	readonly model: ModelStatic<RetryRow>;

	constructor(
		private readonly db: Database,
		private readonly consumer: string,
	) {
		this.model = db.sequelize.define<RetryRow>(
			"EventRetry",
			{
				id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
				producer: { type: DataTypes.STRING(32), allowNull: false },
				eventId: { type: DataTypes.STRING(36), allowNull: false },
				sequence: { type: DataTypes.INTEGER, allowNull: false },
				payload: { type: DataTypes.TEXT, allowNull: false },
				attempts: { type: DataTypes.INTEGER, allowNull: false },
				status: { type: DataTypes.STRING(16), allowNull: false },
				nextAttemptAt: { type: DataTypes.DATE, allowNull: false },
				lastError: { type: DataTypes.TEXT, allowNull: false },
			},
			{ tableName: "event_retries", indexes: [{ fields: ["status", "nextAttemptAt"] }] },
		);
	}

	/** The first failure of an event: schedule attempt 2 (or, if there is already a row for it, leave that row in charge). */
	async record(tx: Transaction, producer: Source, event: DomainEvent, err: unknown, now = new Date()): Promise<RetryRow> {
		const existing = await this.model.findOne({ where: { eventId: event.eventId }, transaction: tx });
		if (existing) return existing;
		return this.model.create(
			{
				id: null,
				producer,
				eventId: event.eventId,
				sequence: event.sequence,
				payload: JSON.stringify(event),
				attempts: 1,
				status: RETRY_POLICY.attempts > 1 ? "pending" : "dead",
				nextAttemptAt: new Date(now.getTime() + backoffMs(1)),
				lastError: describe(err),
			},
			{ transaction: tx },
		);
	}

	/** Ids of retries due now, oldest first. */
	async due(limit: number, now = new Date()): Promise<number[]> {
		const rows = await this.model.findAll({
			where: { status: "pending", nextAttemptAt: { [Op.lte]: now } },
			order: [["nextAttemptAt", "ASC"]],
			attributes: ["id"],
			limit,
		});
		return rows.map((row) => Number(row.id));
	}

	/**
	 * Claim a due retry inside `tx` (row lock; replicas sharing PostgreSQL skip each other's
	 * claims). Null if it is gone, not due any more, or claimed by another replica.
	 */
	async claim(tx: Transaction, id: number, now = new Date()): Promise<RetryRow | null> {
		return this.model.findOne({
			where: { id, status: "pending", nextAttemptAt: { [Op.lte]: now } },
			transaction: tx,
			lock: tx.LOCK.UPDATE,
			skipLocked: this.db.dialect === "postgres",
		});
	}

	/** Another failed attempt: back off, or give up and keep it as a dead letter. */
	async failed(tx: Transaction, row: RetryRow, err: unknown, now = new Date()): Promise<RetryStatus> {
		row.attempts += 1;
		row.lastError = describe(err);
		if (row.attempts >= RETRY_POLICY.attempts) {
			row.status = "dead";
		} else {
			row.nextAttemptAt = new Date(now.getTime() + backoffMs(row.attempts));
		}
		await row.save({ transaction: tx });
		return row.status;
	}

	async succeeded(tx: Transaction, row: RetryRow): Promise<void> {
		await row.destroy({ transaction: tx });
	}

	async deadLetters(): Promise<DeadLetter[]> {
		const rows = await this.model.findAll({ where: { status: "dead" }, order: [["id", "ASC"]] });
		return rows.map((row) => this.present(row));
	}

	async counts(): Promise<{ pending: number; dead: number }> {
		const [pending, dead] = await Promise.all([
			this.model.count({ where: { status: "pending" } }),
			this.model.count({ where: { status: "dead" } }),
		]);
		return { pending, dead };
	}

	/** An operator's retry: the dead letter becomes due now, with a fresh set of attempts. */
	async revive(id: number): Promise<DeadLetter | null> {
		return this.db.transaction(async (tx) => {
			const row = await this.model.findOne({ where: { id, status: "dead" }, transaction: tx, lock: tx.LOCK.UPDATE });
			if (!row) return null;
			row.status = "pending";
			row.attempts = 0;
			row.nextAttemptAt = new Date();
			await row.save({ transaction: tx });
			return this.present(row);
		});
	}

	event(row: RetryRow): DomainEvent {
		return JSON.parse(row.payload) as DomainEvent;
	}

	private present(row: RetryRow): DeadLetter {
		return {
			id: `${this.consumer}-${row.id}`,
			consumer: this.consumer,
			producer: row.producer,
			attempts: row.attempts,
			lastError: row.lastError,
			failedAt: (row.updatedAt as Date).toISOString(),
			event: this.event(row),
		};
	}
}
