/**
 * A consumer's durable retry table and dead letters. A handler failure never escapes to the
 * transporter (Moleculer would ack the message anyway): the event is recorded here, in the
 * consumer's own database and in the same transaction that moves its checkpoint past the event,
 * so the queue and the log keep flowing while this event is retried with backoff:
 * 1 s, 2 s, … (×2, at most 10 s) for 3 attempts in all, each delay jittered within ±25 %
 * (lib/domain/retry-schedule.ts), then it is a dead letter, kept until an operator retries,
 * edits or discards it (CONTRACT.md, "Operating consumers"). Version guards make a late retry of
 * an old event harmless.
 *
 * A row's status: `pending` (retried with backoff), `dead` (waits for an operator), `discarded`
 * (by an operator) or `replayed` (an operator's retry applied it). The last two are settled: kept
 * DEAD_LETTER_RETENTION_DAYS from `settledAt`, then purged (purgeSettled).
 */
import { Errors } from "moleculer";
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic, Op, QueryTypes } from "sequelize";
import type { Source } from "../constants";
import type { Database } from "../storage/database";
import { causedBy, causeOf } from "../domain/caused-by";
import type { DomainEvent } from "../domain/events";
import { FieldValidationError } from "../errors";
import { RETRY_POLICY, type Random, type RetryPolicy, retryDelayMs } from "../domain/retry-schedule";
import { forUpdate, readTime, type Sql, sqlTime } from "../storage/sql";
import { editProblems } from "./dead-letter-edit";
import { type DeadLetterFilter, type DeadLetterState, deadLetterWhere, indexedFields } from "./dead-letter-query";

export { backoffMs, RETRY_POLICY, type RetryPolicy } from "../domain/retry-schedule";

export type RetryStatus = "pending" | DeadLetterState;

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
	/** the event's type and entity id, where the payload says (lib/consumer/dead-letter-query.ts) */
	eventType: string | null;
	entityId: number | null;
	/** the payload as it failed, kept when an operator edited it */
	original: string | null;
	editedAt: Date | null;
	editedBy: string | null;
	/** when an operator last sent it back for retry: a new round of attempts, its span counted from then */
	revivedAt: Date | null;
	/** when it was discarded or replayed */
	settledAt: Date | null;
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
	/** when the event first failed */
	failedAt: string;
	/** the X-Request-ID of the change that caused the event, null when unknown */
	requestId: string | null;
	/** the event it holds: an operator's edit, if there was one */
	event: DomainEvent;
	/** `pending` only in the answer to an operator's retry: it is back in the retry table */
	state: RetryStatus;
	/** the event as it failed, when it was edited */
	original?: DomainEvent;
	/** when, and by whom (an admin token's id, or `repl`), it was edited */
	edited?: { at: string; by: string };
}

/** A dead letter as its table holds it (plain SQL, both dialects). */
interface DeadLetterRow {
	id: number;
	producer: string;
	payload: string;
	attempts: number;
	status: RetryStatus;
	lastError: string;
	requestId: string | null;
	createdAt: unknown;
	original: string | null;
	editedAt: unknown;
	editedBy: string | null;
}

const DEAD_LETTER_COLUMNS = `"id", "producer", "payload", "attempts", "status", "lastError", "requestId", "createdAt", "original", "editedAt", "editedBy"`;

/** 404: no dead letter with that id waits for an operator (it is unknown, pending, discarded or replayed). */
export class DeadLetterNotFoundError extends Errors.MoleculerClientError {
	constructor(id: string) {
		super(`Dead letter '${id}' not found`, 404, "NOT_FOUND", { id });
		this.name = "NotFoundError";
	}
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
	/** the first failure (as the database gives it back) */
	createdAt: Date | string;
	/** an operator sent it back for retry: applied, it is kept as replayed; its round of attempts began then */
	revivedAt: unknown;
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
				eventType: { type: DataTypes.STRING(16), allowNull: true },
				entityId: { type: DataTypes.INTEGER, allowNull: true },
				original: { type: DataTypes.TEXT, allowNull: true },
				editedAt: { type: DataTypes.DATE, allowNull: true },
				editedBy: { type: DataTypes.STRING(64), allowNull: true },
				revivedAt: { type: DataTypes.DATE, allowNull: true },
				settledAt: { type: DataTypes.DATE, allowNull: true },
			},
			{ tableName: "event_retries" },
		);
	}

	/**
	 * The first failure of an event: schedule attempt 2 (or, if there is already a row for it,
	 * leave that row in charge). Gives back the delay before attempt 2, or null if none is scheduled.
	 * On PostgreSQL two transactions may fail the same event at once (a live delivery and a
	 * catch-up page, or two replicas): a lock on the event's id, held until commit, makes the second
	 * find the first's row instead of adding another, which would be one event counted, listed and
	 * retried twice. Callers record their failures in log order, so that two transactions take
	 * these locks in the same order.
	 */
	async record(sql: Sql, producer: Source, event: DomainEvent, err: unknown): Promise<number | null> {
		if (sql.dialect === "postgres") await sql.all(`SELECT pg_advisory_xact_lock(hashtext(?)) AS "locked"`, [`event_retries:${event.eventId}`]);
		// a settled letter of the same event (discarded, replayed) is history: this failure is new
		const existing = await sql.all(`SELECT "id" FROM event_retries WHERE "eventId" = ? AND "status" IN ('pending', 'dead')`, [event.eventId]);
		if (existing.length > 0) return null;
		const now = this.now();
		const { eventType, entityId } = indexedFields(producer, event);
		const retrying = this.policy.attempts > 1;
		const delay = retryDelayMs(1, 0, this.policy, this.random);
		await sql.run(
			`INSERT INTO event_retries ("producer", "eventId", "sequence", "payload", "attempts", "status", "nextAttemptAt", "lastError", "createdAt", "updatedAt", "requestId", "eventType", "entityId")
			 VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
				eventType,
				entityId,
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
		// found by type and entity id where the payload has valid ones (filters only: nothing trusts them)
		const { eventType, entityId } = indexedFields(producer, payload);
		await sql.run(
			`INSERT INTO event_retries ("producer", "eventId", "sequence", "payload", "attempts", "status", "nextAttemptAt", "lastError", "createdAt", "updatedAt", "requestId", "eventType", "entityId")
			 VALUES (?, '', 0, ?, 1, 'dead', ?, ?, ?, ?, ?, ?, ?)`,
			[producer, kept, now, describe(err), now, now, typeof payload === "object" && payload !== null ? (causeOf(payload) ?? null) : null, eventType, entityId],
		);
	}

	/** Ids of retries due now, oldest first. */
	async due(limit: number): Promise<number[]> {
		const rows = await this.model.findAll({
			where: { status: "pending", nextAttemptAt: { [Op.lte]: this.now() } },
			order: [
				["nextAttemptAt", "ASC"],
				// those due at once (a bulk retry) in the order they failed
				["id", "ASC"],
			],
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
			`SELECT "id", "producer", "eventId", "sequence", "payload", "attempts", "status", "requestId", "createdAt", "revivedAt" FROM event_retries
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
		// the round began at the first failure, or at an operator's retry
		const roundStart = row.revivedAt === null || row.revivedAt === undefined ? row.createdAt : (row.revivedAt as Date | string);
		const elapsed = now.getTime() - readTime(roundStart).getTime();
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

	/** Applied: gone from the table, or, when an operator had sent it back, kept as replayed. */
	async succeeded(sql: Sql, row: RetryRecord): Promise<void> {
		if (row.revivedAt === null || row.revivedAt === undefined) {
			await sql.run(`DELETE FROM event_retries WHERE "id" = ?`, [row.id]);
			return;
		}
		const now = sqlTime(sql, this.now());
		await sql.run(`UPDATE event_retries SET "status" = 'replayed', "settledAt" = ?, "updatedAt" = ? WHERE "id" = ?`, [now, now, row.id]);
	}

	/**
	 * A slice of the dead letters a filter selects (state `dead` unless it says), by id, and how
	 * many it selects: never the whole table at once.
	 */
	async deadLetters(filter: DeadLetterFilter, offset: number, limit: number): Promise<{ rows: DeadLetter[]; total: number }> {
		const where = deadLetterWhere(filter, this.db.dialect);
		const select = <T extends object>(text: string, replacements: unknown[]) => this.db.sequelize.query<T>(text, { type: QueryTypes.SELECT, replacements });
		const [{ total }] = await select<{ total: number | string }>(`SELECT COUNT(*) AS "total" FROM event_retries WHERE ${where.text}`, where.params);
		// limit 0 asks for the number alone
		if (limit === 0) return { rows: [], total: Number(total) };
		const rows = await select<DeadLetterRow>(`SELECT ${DEAD_LETTER_COLUMNS} FROM event_retries WHERE ${where.text} ORDER BY "id" LIMIT ? OFFSET ?`, [
			...where.params,
			limit,
			offset,
		]);
		return { rows: rows.map((row) => this.present(row)), total: Number(total) };
	}

	async counts(): Promise<{ pending: number; dead: number }> {
		const [pending, dead] = await Promise.all([this.model.count({ where: { status: "pending" } }), this.model.count({ where: { status: "dead" } })]);
		return { pending, dead };
	}

	/** An operator's retry: the dead letter becomes due now, with a fresh round of attempts (its span counted from now: revivedAt). Null if no dead letter has that id. */
	async revive(id: number): Promise<DeadLetter | null> {
		const revived = await this.db.transaction(async (sql) => {
			const now = sqlTime(sql, this.now());
			return sql.run(
				`UPDATE event_retries SET "status" = 'pending', "attempts" = 0, "nextAttemptAt" = ?, "revivedAt" = ?, "updatedAt" = ? WHERE "id" = ? AND "status" = 'dead'`,
				[now, now, now, id],
			);
		});
		return revived > 0 ? this.deadLetter(id) : null;
	}

	/** An operator's retry of every dead letter a filter selects (its state is `dead`, whatever it says): how many. */
	reviveMatching(filter: DeadLetterFilter): Promise<number> {
		return this.db.transaction((sql) => {
			const where = deadLetterWhere({ ...filter, state: "dead" }, sql.dialect);
			const now = sqlTime(sql, this.now());
			return sql.run(
				`UPDATE event_retries SET "status" = 'pending', "attempts" = 0, "nextAttemptAt" = ?, "revivedAt" = ?, "updatedAt" = ? WHERE ${where.text}`,
				[now, now, now, ...where.params],
			);
		});
	}

	/** An operator's discard: kept as discarded for the retention period. Null if no dead letter has that id. */
	async discard(id: number): Promise<DeadLetter | null> {
		const discarded = await this.db.transaction(async (sql) => {
			const now = sqlTime(sql, this.now());
			return sql.run(`UPDATE event_retries SET "status" = 'discarded', "settledAt" = ?, "updatedAt" = ? WHERE "id" = ? AND "status" = 'dead'`, [now, now, id]);
		});
		return discarded > 0 ? this.deadLetter(id) : null;
	}

	/** An operator's discard of every dead letter a filter selects (its state is `dead`, whatever it says): how many. */
	discardMatching(filter: DeadLetterFilter): Promise<number> {
		return this.db.transaction((sql) => {
			const where = deadLetterWhere({ ...filter, state: "dead" }, sql.dialect);
			const now = sqlTime(sql, this.now());
			return sql.run(`UPDATE event_retries SET "status" = 'discarded', "settledAt" = ?, "updatedAt" = ? WHERE ${where.text}`, [now, now, ...where.params]);
		});
	}

	/**
	 * An operator's edit before replay: the dead letter's event replaced by `event`, checked as a
	 * consumed event is and as the same event (lib/consumer/dead-letter-edit.ts); the event as it
	 * failed is kept beside it (the first edit's, whatever edits follow), with when and by whom.
	 * @throws FieldValidationError (422) naming each field at fault; nothing is changed then
	 * @throws DeadLetterNotFoundError (404) when no dead letter with that id waits for an operator
	 */
	async edit(id: number, event: unknown, by: string): Promise<DeadLetter> {
		await this.db.transaction(async (sql) => {
			const [row] = await sql.all<{ producer: Source; payload: string; original: string | null }>(
				`SELECT "producer", "payload", "original" FROM event_retries WHERE "id" = ? AND "status" = 'dead'${forUpdate(sql)}`,
				[id],
			);
			if (!row) throw new DeadLetterNotFoundError(`${this.consumer}-${id}`);
			const original = row.original ?? row.payload;
			const problems = editProblems(row.producer, JSON.parse(original), event);
			if (problems.length > 0) throw new FieldValidationError(problems);
			const edited = event as DomainEvent;
			const { eventType, entityId } = indexedFields(row.producer, edited);
			const now = sqlTime(sql, this.now());
			await sql.run(
				`UPDATE event_retries SET "payload" = ?, "original" = ?, "editedAt" = ?, "editedBy" = ?, "eventId" = ?, "sequence" = ?, "eventType" = ?, "entityId" = ?, "updatedAt" = ?
				 WHERE "id" = ?`,
				[JSON.stringify(edited), original, now, by.slice(0, 64), edited.eventId, edited.sequence, eventType, entityId, now, id],
			);
		});
		const letter = await this.deadLetter(id);
		if (!letter) throw new DeadLetterNotFoundError(`${this.consumer}-${id}`);
		return letter;
	}

	/** Delete the settled letters (discarded, replayed) settled before `cutoff` (lib/consumer/dead-letter-retention.ts): how many. */
	purgeSettled(cutoff: Date): Promise<number> {
		return this.db.transaction((sql) =>
			sql.run(`DELETE FROM event_retries WHERE "status" IN ('discarded', 'replayed') AND "settledAt" < ?`, [sqlTime(sql, cutoff)]),
		);
	}

	/** One row by id, in whatever state, as a dead letter; or null. */
	async deadLetter(id: number): Promise<DeadLetter | null> {
		const rows = await this.db.sequelize.query<DeadLetterRow>(`SELECT ${DEAD_LETTER_COLUMNS} FROM event_retries WHERE "id" = ?`, {
			type: QueryTypes.SELECT,
			replacements: [id],
		});
		return rows[0] ? this.present(rows[0]) : null;
	}

	/** The event a row holds, with the request that caused it noted beside it. */
	event(row: { payload: string; requestId?: string | null }): DomainEvent {
		return causedBy(JSON.parse(row.payload) as DomainEvent, row.requestId);
	}

	private present(row: DeadLetterRow): DeadLetter {
		const letter: DeadLetter = {
			id: `${this.consumer}-${row.id}`,
			consumer: this.consumer,
			producer: row.producer,
			attempts: Number(row.attempts),
			lastError: row.lastError,
			failedAt: readTime(row.createdAt).toISOString(),
			requestId: row.requestId ?? null,
			event: this.event(row),
			state: row.status,
		};
		if (row.original !== null && row.editedAt !== null) {
			letter.original = JSON.parse(row.original) as DomainEvent;
			letter.edited = { at: readTime(row.editedAt).toISOString(), by: row.editedBy ?? "" };
		}
		return letter;
	}
}
