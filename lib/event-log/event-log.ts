/**
 * A producer's event log: the transactional outbox and the audit trail in one table.
 * A row is appended in the same transaction as the entity change it describes, so there is
 * no change without its event and no event without its change. Consumers read it to catch up.
 */
import { randomUUID } from "node:crypto";
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic, Op, QueryTypes } from "sequelize";
import type { EventType, Source } from "../constants";
import type { Database } from "../storage/database";
import type { DomainEvent, EventEnvelope, EventPage } from "../domain/events";
import { type EventDraft, eventDraft, type StampSource } from "../domain/decision";
import type { Sql } from "../storage/sql";
import { causedBy } from "../domain/caused-by";
import { nextCursor, type SnapshotPage, snapshotSequence } from "../domain/snapshot";
import { SnapshotAheadError } from "../errors";
import { type EntityWrite, runEntityWrite } from "./entity-write";
import { type RequestKey, type RequestKeys, rememberStatement, repeatedOr } from "./request-keys";

/** The fields an event carries besides its envelope. */
export type EventFields<E extends DomainEvent> = Omit<E, keyof EventEnvelope>;

/** The system's clock and random UUIDs: the stamp of every decision outside tests. */
export const systemStamp: StampSource = () => ({ now: new Date(), eventId: randomUUID() });

/**
 * An append on PostgreSQL. The advisory lock that serialises appends is taken by the INSERT
 * itself, in the subquery it reads its one row from: the sequence (the column's nextval) is drawn
 * above that subquery, so only once the lock is held (EXPLAIN VERBOSE: a Result node calling
 * pg_advisory_xact_lock under the Subquery Scan whose output draws nextval). One statement, where
 * a SELECT of the lock before the INSERT cost a round trip per write. The casts type the
 * parameters, which a SELECT list cannot take from the columns as VALUES does. A change riding
 * along (lib/event-log/entity-write.ts) is joined in as `, "entity"`: the sequence is still drawn
 * above the join, so after the lock, and no row of the change (its version moved) is no event.
 */
const APPEND_POSTGRES = `INSERT INTO event_log ("eventId", "eventType", "entityId", "version", "payload", "timestamp", "requestId")
	SELECT ?::varchar, ?::varchar, ?::integer, ?::integer, ?::text, ?::varchar, ?::varchar
	FROM (SELECT pg_advisory_xact_lock(hashtext(?))) AS "appendLock"`;

/** An append on SQLite, whose one writer serialises appends already. */
const APPEND_SQLITE =
	'INSERT INTO event_log ("eventId", "eventType", "entityId", "version", "payload", "timestamp", "requestId") VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING "sequence"';

/** How a write's event is appended (EventLog.appendDecided). */
export interface AppendOptions {
	/** the request that caused the change, kept with the row and beside the event */
	requestId?: string;
	/**
	 * The request's key and answer, stored in the same transaction (lib/event-log/request-keys.ts):
	 * on PostgreSQL in the append's own statement. A key stored already: RepeatedRequest.
	 */
	remember?: { keys: RequestKeys; request: RequestKey; answer: unknown };
	/** the append is the transaction's last statement: its COMMIT goes with it (Sql.allAndCommit) */
	last?: boolean;
	/** the change the event is of, not yet sent: it runs with the append (lib/event-log/entity-write.ts) */
	entityWrite?: EntityWrite;
}

/** Every column of the log, for the reads in plain SQL. */
const LOG_COLUMNS = `"sequence", "eventId", "eventType", "entityId", "version", "payload", "timestamp", "requestId"`;

/** A row of the log as stored. */
interface EventLogRecord {
	sequence: number | null;
	eventId: string;
	eventType: EventType;
	entityId: number;
	version: number;
	payload: string;
	timestamp: string;
	/** the X-Request-ID of the change (null: none known, e.g. rows from before it was kept) */
	requestId: string | null;
}

/** The same row as Sequelize's model holds it, for the reads (the table is migration 001's). */
interface EventLogRow extends EventLogRecord, Model<InferAttributes<EventLogRow>, InferCreationAttributes<EventLogRow>> {}

function defineEventLogModel(db: Database): ModelStatic<EventLogRow> {
	return db.sequelize.define<EventLogRow>(
		"EventLog",
		{
			sequence: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
			eventId: { type: DataTypes.STRING(36), allowNull: false },
			eventType: { type: DataTypes.STRING(16), allowNull: false },
			entityId: { type: DataTypes.INTEGER, allowNull: false },
			version: { type: DataTypes.INTEGER, allowNull: false },
			payload: { type: DataTypes.TEXT, allowNull: false },
			timestamp: { type: DataTypes.STRING(32), allowNull: false },
			requestId: { type: DataTypes.STRING(128), allowNull: true },
		},
		{ tableName: "event_log", timestamps: false },
	);
}

/** The log of one producer, whose events are of type `E` (ClientEvent or GoalEvent). */
export class EventLog<E extends DomainEvent> {
	readonly model: ModelStatic<EventLogRow>;

	constructor(
		private readonly db: Database,
		private readonly source: Source,
	) {
		this.model = defineEventLogModel(db);
	}

	/**
	 * Append one event inside the caller's transaction, stamped now (a cascade's deletions, which a
	 * consumer appends); a write's own event is decided with its stamp and appended by appendDecided.
	 */
	async append(sql: Sql, eventType: EventType, entityId: number, version: number, fields: EventFields<E>, requestId?: string): Promise<E> {
		return this.appendDecided(sql, entityId, eventDraft(eventType, version, systemStamp()), fields, { requestId });
	}

	/**
	 * Append a decided event (lib/domain/decision.ts) inside the caller's transaction; its payload
	 * is `fields`, the entity after the change. Appends are serialised (an advisory lock on
	 * PostgreSQL) so that sequences commit in order: a consumer reading "after N" can never skip a
	 * lower sequence that commits late. Call it as the last write of the transaction: the lock is
	 * then held for the INSERT and the COMMIT only (`options.last` sends the COMMIT with it).
	 */
	async appendDecided(sql: Sql, entityId: number, event: EventDraft, fields: EventFields<E>, options: AppendOptions = {}): Promise<E> {
		const row: Omit<EventLogRecord, "sequence"> = {
			eventId: event.eventId,
			eventType: event.eventType,
			entityId,
			version: event.version,
			payload: JSON.stringify(fields),
			timestamp: event.timestamp,
			requestId: options.requestId ?? null,
		};
		const values = [row.eventId, row.eventType, row.entityId, row.version, row.payload, row.timestamp, row.requestId];
		const { remember, entityWrite } = options;
		let text: string;
		let params: unknown[];
		if (sql.dialect === "postgres") {
			// in one statement: the change (if it rides here), the request's key, the event
			const ctes: string[] = [];
			params = [];
			if (entityWrite) {
				ctes.push(`"entity" AS (${entityWrite.text} RETURNING 1 AS "one")`);
				params.push(...entityWrite.params);
			}
			if (remember) {
				const insert = rememberStatement(sql, remember.request, remember.answer, new Date(), entityWrite ? "entity" : undefined);
				ctes.push(`"requestKey" AS (${insert.text})`);
				params.push(...insert.params);
			}
			text = `${ctes.length > 0 ? `WITH ${ctes.join(", ")} ` : ""}${APPEND_POSTGRES}${entityWrite ? `, "entity"` : ""} RETURNING "sequence"`;
			params.push(...values, `${this.source}:event_log`);
		} else {
			if (entityWrite) await runEntityWrite(sql, entityWrite);
			text = APPEND_SQLITE;
			params = values;
			if (remember) await remember.keys.remember(sql, remember.request, remember.answer);
		}
		let rows: Array<{ sequence: number }>;
		try {
			rows = options.last ? await sql.allAndCommit<{ sequence: number }>(text, params) : await sql.all<{ sequence: number }>(text, params);
		} catch (err) {
			const refused = remember ? repeatedOr(err, remember.request) : err;
			// on PostgreSQL the change ran in this statement: its refusals are told as its own
			throw refused === err && entityWrite?.refused && sql.dialect === "postgres" ? entityWrite.refused(err) : refused;
		}
		// no row: the change found its version moved, and nothing was stored (its event and key come from its row)
		if (rows.length === 0 && entityWrite) throw entityWrite.conflict();
		return this.toEvent({ ...row, sequence: rows[0].sequence });
	}

	/** Events after `sequence`, oldest first: what a consumer catching up asks for. */
	async readAfter(sequence: number, limit: number): Promise<EventPage<E>> {
		const [page, lastSequence] = await Promise.all([this.pageAfter(sequence, limit), this.lastSequence()]);
		return { ...page, lastSequence };
	}

	/** The events after `sequence`, without the head (one query: the relay, which needs no head, reads a page per run). */
	async pageAfter(sequence: number, limit: number): Promise<Omit<EventPage<E>, "lastSequence">> {
		const rows = await this.db.read<EventLogRecord>(`SELECT ${LOG_COLUMNS} FROM event_log WHERE "sequence" > ? ORDER BY "sequence" LIMIT ?`, [sequence, limit]);
		const requestIds: Record<string, string> = {};
		for (const row of rows) if (row.requestId) requestIds[row.eventId] = row.requestId;
		return { events: rows.map((row) => this.toEvent(row)), requestIds };
	}

	/**
	 * A page of the snapshot at `atSequence` (the head when not given: the first page): for each
	 * entity after `afterEntity`, by id, its last event with sequence ≤ atSequence. Rows ≤ a
	 * visible sequence are committed and never change (appends are serialised, the log is
	 * append-only), so pages read at different times agree without a transaction held across them.
	 * Index-served on both dialects, stopping after `limit` rows: on SQLite a covering search of the
	 * unique (entityId, version) index (its rowid is the sequence), on PostgreSQL an index scan of
	 * (entityId, sequence) with an index-only anti-join for "no later row ≤ S".
	 */
	async snapshot(atSequence: number | undefined, afterEntity: number, limit: number): Promise<SnapshotPage<E>> {
		const head = await this.lastSequence();
		const at = snapshotSequence(atSequence, head);
		if (!at.ok) throw new SnapshotAheadError(this.source, atSequence as number, head);
		const rows = await this.db.sequelize.query<EventLogRecord>(
			`SELECT e.* FROM event_log e
			 WHERE e."entityId" > ? AND e."sequence" <= ? AND NOT EXISTS (
			   SELECT 1 FROM event_log later WHERE later."entityId" = e."entityId" AND later."sequence" > e."sequence" AND later."sequence" <= ?
			 ) ORDER BY e."entityId" LIMIT ?`,
			{ replacements: [afterEntity, at.atSequence, at.atSequence, limit], type: QueryTypes.SELECT },
		);
		const requestIds: Record<string, string> = {};
		for (const row of rows) if (row.requestId) requestIds[row.eventId] = row.requestId;
		const page: SnapshotPage<E> = {
			atSequence: at.atSequence,
			events: rows.map((row) => this.toEvent(row)),
			next: nextCursor(
				rows.map((row) => Number(row.entityId)),
				limit,
			),
			requestIds,
		};
		if (atSequence === undefined) page.total = await this.entitiesAt(at.atSequence);
		return page;
	}

	/** How many entities the snapshot at `sequence` holds (its progress's denominator). */
	private async entitiesAt(sequence: number): Promise<number> {
		const [row] = await this.db.sequelize.query<{ total: number | string }>(
			`SELECT COUNT(DISTINCT "entityId") AS "total" FROM event_log WHERE "sequence" <= ?`,
			{ replacements: [sequence], type: QueryTypes.SELECT },
		);
		return Number(row?.total ?? 0);
	}

	/**
	 * One entity's audit trail, by version: at most `limit` events after `afterVersion` (the
	 * unique (entityId, version) index serves it), so no answer grows with the entity's history.
	 */
	async history(entityId: number, afterVersion: number, limit: number): Promise<E[]> {
		const rows = await this.model.findAll({
			where: { entityId, version: { [Op.gt]: afterVersion } },
			order: [["version", "ASC"]],
			limit,
			raw: true,
		});
		return rows.map((row) => this.toEvent(row));
	}

	/** Whether the entity has any event: an audit trail that exists, whatever page was asked. */
	async hasHistory(entityId: number): Promise<boolean> {
		return (await this.model.findOne({ where: { entityId }, attributes: ["sequence"], raw: true })) !== null;
	}

	async lastSequence(): Promise<number> {
		const last: unknown = await this.model.max("sequence");
		return Number(last ?? 0);
	}

	private toEvent(row: EventLogRecord): E {
		const envelope: EventEnvelope = {
			eventId: row.eventId,
			eventType: row.eventType,
			source: this.source,
			timestamp: row.timestamp,
			sequence: Number(row.sequence),
			version: Number(row.version),
		};
		return causedBy({ ...envelope, ...(JSON.parse(row.payload) as EventFields<E>) } as E, row.requestId);
	}
}
