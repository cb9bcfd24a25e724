/**
 * A consumer's durable retry table and dead letters. A handler failure never escapes to the
 * transporter (Moleculer would ack the message anyway): the event is recorded here, in the
 * consumer's own database and in the same transaction that moves its checkpoint past the event,
 * so the queue and the log keep flowing while this event is retried with backoff:
 * 1 s, 2 s, … (×2, at most 10 s) for 3 attempts in all, each delay jittered within ±25 %
 * (lib/domain/retry-schedule.ts), then it is a dead letter, kept until an operator retries it.
 * Version guards make a late retry of an old event harmless.
 */
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic, Op } from "sequelize";
import type { Source } from "../constants";
import type { Database } from "../storage/database";
import { causedBy, causeOf } from "../domain/caused-by";
import type { DomainEvent } from "../domain/events";
import { readTime, type Sql, sqlTime } from "../storage/sql";
import { RETRY_POLICY, type Random, type RetryPolicy, retryDelayMs } from "../domain/retry-schedule";

export { backoffMs, RETRY_POLICY, type RetryPolicy } from "../domain/retry-schedule";

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
	/** the request that caused the event (lib/domain/caused-by.ts), null when unknown */
	requestId: string | null;
	/** when this round of attempts began: the first failure, or an operator's retry (the schedule's span counts from it) */
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
	/** the X-Request-ID of the change that caused the event, null when unknown */
	requestId: string | null;
	event: DomainEvent;
}

/** Characters of a refused payload's JSON kept in its dead letter. */
const REJECTED_PAYLOAD_MAX = 16_384;

function describe(err: unknown): string {
	const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
	return text.slice(0, 1000);
}

/** A retry row as the write path reads it. */
export interface RetryRecord {
	id: number;
	producer: string;
	eventId: string;
	sequence: number;
	payload: string;
	attempts: number;
	status: RetryStatus;
	requestId: string | null;
	/** when this round of attempts began (as the database gives it back) */
	createdAt: Date | string;
}

export class RetryStore {
	readonly model: ModelStatic<RetryRow>;

	constructor(
		private readonly db: Database,
		private readonly consumer: string,
		readonly policy: RetryPolicy = RETRY_POLICY,
		/** the clock, for tests */
		private readonly now: () => Date = () => new Date(),
		/** the draws that jitter each delay, for tests */
		private readonly random: Random = Math.random,
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
				requestId: { type: DataTypes.STRING(128), allowNull: true },
			},
			{ tableName: "event_retries" },
		);
	}

	/**
	 * The first failure of an event: schedule attempt 2 (or, if there is already a row for it,
	 * leave that row in charge). Gives back the delay before attempt 2, or null if none is scheduled.
	 */
	async record(sql: Sql, producer: Source, event: DomainEvent, err: unknown): Promise<number | null> {
		const existing = await sql.all(`SELECT "id" FROM event_retries WHERE "eventId" = ?`, [event.eventId]);
		if (existing.length > 0) return null;
		const now = this.now();
		const retrying = this.policy.attempts > 1;
		const delay = retryDelayMs(1, 0, this.policy, this.random);
		await sql.run(
			`INSERT INTO event_retries ("producer", "eventId", "sequence", "payload", "attempts", "status", "nextAttemptAt", "lastError", "createdAt", "updatedAt", "requestId")
			 VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`,
			[
				producer,
				event.eventId,
				event.sequence,
				JSON.stringify(event),
				retrying ? "pending" : "dead",
				sqlTime(sql, new Date(now.getTime() + delay)),
				describe(err),
				sqlTime(sql, now),
				sqlTime(sql, now),
				causeOf(event) ?? null,
			],
		);
		return retrying ? delay : null;
	}

	/**
	 * A consumed payload that failed its schema check: a dead letter at once, never retried by
	 * itself. Its eventId and sequence are not trusted (not even to be a uuid or an integer): the
	 * row gets none, so it can never stand in for a real event's retry (record() looks rows up by
	 * eventId); the payload is kept as it came, up to REJECTED_PAYLOAD_MAX characters.
	 */
	async reject(sql: Sql, producer: Source, payload: unknown, err: unknown): Promise<void> {
		const now = sqlTime(sql, this.now());
		const json = JSON.stringify(payload ?? null);
		const kept = json.length <= REJECTED_PAYLOAD_MAX ? json : JSON.stringify({ truncated: json.slice(0, REJECTED_PAYLOAD_MAX) });
		await sql.run(
			`INSERT INTO event_retries ("producer", "eventId", "sequence", "payload", "attempts", "status", "nextAttemptAt", "lastError", "createdAt", "updatedAt", "requestId")
			 VALUES (?, '', 0, ?, 1, 'dead', ?, ?, ?, ?, ?)`,
			[producer, kept, now, describe(err), now, now, typeof payload === "object" && payload !== null ? (causeOf(payload) ?? null) : null],
		);
	}

	/** Ids of retries due now, oldest first. */
	async due(limit: number): Promise<number[]> {
		const rows = await this.model.findAll({
			where: { status: "pending", nextAttemptAt: { [Op.lte]: this.now() } },
			order: [["nextAttemptAt", "ASC"]],
			attributes: ["id"],
			limit,
			raw: true,
		});
		return rows.map((row) => Number(row.id));
	}

	/** When the next pending retry is due, or null if none is pending. */
	async nextDue(): Promise<Date | null> {
		const next: unknown = await this.model.min("nextAttemptAt", { where: { status: "pending" } });
		return next === null || next === undefined ? null : readTime(next);
	}

	/**
	 * Claim a due retry inside the transaction (row lock; replicas sharing PostgreSQL skip each
	 * other's claims). Null if it is gone, not due any more, or claimed by another replica.
	 */
	async claim(sql: Sql, id: number): Promise<RetryRecord | null> {
		const lock = sql.dialect === "postgres" ? " FOR UPDATE SKIP LOCKED" : "";
		const rows = await sql.all<RetryRecord>(
			`SELECT "id", "producer", "eventId", "sequence", "payload", "attempts", "status", "requestId", "createdAt" FROM event_retries
			 WHERE "id" = ? AND "status" = 'pending' AND "nextAttemptAt" <= ?${lock}`,
			[id, sqlTime(sql, this.now())],
		);
		return rows[0] ?? null;
	}

	/** Another failed attempt: back off, or give up and keep it as a dead letter. */
	async failed(sql: Sql, row: RetryRecord, err: unknown): Promise<RetryStatus> {
		const attempts = row.attempts + 1;
		const status: RetryStatus = attempts >= this.policy.attempts ? "dead" : "pending";
		const now = this.now();
		const elapsed = now.getTime() - readTime(row.createdAt).getTime();
		const next = status === "dead" ? now : new Date(now.getTime() + retryDelayMs(attempts, elapsed, this.policy, this.random));
		await sql.run(`UPDATE event_retries SET "attempts" = ?, "status" = ?, "nextAttemptAt" = ?, "lastError" = ?, "updatedAt" = ? WHERE "id" = ?`, [
			attempts,
			status,
			sqlTime(sql, next),
			describe(err),
			sqlTime(sql, now),
			row.id,
		]);
		return status;
	}

	async succeeded(sql: Sql, row: RetryRecord): Promise<void> {
		await sql.run(`DELETE FROM event_retries WHERE "id" = ?`, [row.id]);
	}

	/** A slice of the dead letters, by id, and how many there are: never the whole table at once. */
	async deadLetters(offset: number, limit: number): Promise<{ rows: DeadLetter[]; total: number }> {
		const where = { status: "dead" } as const;
		// limit 0 asks for the number alone (Sequelize would take a 0 limit for none at all)
		if (limit === 0) return { rows: [], total: await this.model.count({ where }) };
		const { rows, count } = await this.model.findAndCountAll({ where, order: [["id", "ASC"]], offset, limit });
		return { rows: rows.map((row) => this.present(row)), total: count };
	}

	async counts(): Promise<{ pending: number; dead: number }> {
		const [pending, dead] = await Promise.all([this.model.count({ where: { status: "pending" } }), this.model.count({ where: { status: "dead" } })]);
		return { pending, dead };
	}

	/** An operator's retry: the dead letter becomes due now, with a fresh round of attempts (its span counted from now). */
	async revive(id: number): Promise<DeadLetter | null> {
		const revived = await this.db.transaction(async (sql) => {
			const now = sqlTime(sql, this.now());
			const changed = await sql.run(
				`UPDATE event_retries SET "status" = 'pending', "attempts" = 0, "nextAttemptAt" = ?, "createdAt" = ?, "updatedAt" = ? WHERE "id" = ? AND "status" = 'dead'`,
				[now, now, now, id],
			);
			return changed > 0;
		});
		if (!revived) return null;
		const row = await this.model.findByPk(id);
		return row ? this.present(row) : null;
	}

	/** The event a row holds, with the request that caused it noted beside it. */
	event(row: { payload: string; requestId?: string | null }): DomainEvent {
		return causedBy(JSON.parse(row.payload) as DomainEvent, row.requestId);
	}

	private present(row: RetryRow): DeadLetter {
		return {
			id: `${this.consumer}-${row.id}`,
			consumer: this.consumer,
			producer: row.producer,
			attempts: row.attempts,
			lastError: row.lastError,
			failedAt: (row.updatedAt as Date).toISOString(),
			requestId: row.requestId ?? null,
			event: this.event(row),
		};
	}
}
