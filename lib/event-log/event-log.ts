/**
 * A producer's event log: the transactional outbox and the audit trail in one table.
 * A row is appended in the same transaction as the entity change it describes, so there is
 * no change without its event and no event without its change. Consumers read it to catch up.
 */
import { randomUUID } from "node:crypto";
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic, Op } from "sequelize";
import type { EventType, Source } from "../constants";
import type { Database } from "../storage/database";
import type { DomainEvent, EventEnvelope, EventPage } from "../domain/events";
import type { Sql } from "../storage/sql";
import { causedBy } from "../domain/caused-by";

/** The fields an event carries besides its envelope. */
export type EventFields<E extends DomainEvent> = Omit<E, keyof EventEnvelope>;

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

/** The same row as Sequelize's model holds it (schema and reads). */
interface EventLogRow extends EventLogRecord, Model<InferAttributes<EventLogRow>, InferCreationAttributes<EventLogRow>> {}

function defineEventLogModel(db: Database): ModelStatic<EventLogRow> {
	return db.sequelize.define<EventLogRow>(
		"EventLog",
		{
			sequence: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
			eventId: { type: DataTypes.STRING(36), allowNull: false, unique: true },
			eventType: { type: DataTypes.STRING(16), allowNull: false },
			entityId: { type: DataTypes.INTEGER, allowNull: false },
			version: { type: DataTypes.INTEGER, allowNull: false },
			payload: { type: DataTypes.TEXT, allowNull: false },
			timestamp: { type: DataTypes.STRING(32), allowNull: false },
			requestId: { type: DataTypes.STRING(128), allowNull: true },
		},
		{
			tableName: "event_log",
			timestamps: false,
			indexes: [{ unique: true, fields: ["entityId", "version"] }],
		},
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
	 * Append one event inside the caller's transaction. Appends are serialised (an advisory lock
	 * on PostgreSQL) so that sequences commit in order: a consumer reading "after N" can never
	 * skip a lower sequence that commits late. Call it as the last write of the transaction.
	 * `requestId`: the request that caused the change, kept with the row and beside the event.
	 */
	async append(sql: Sql, eventType: EventType, entityId: number, version: number, fields: EventFields<E>, requestId?: string): Promise<E> {
		await this.db.lock(sql, `${this.source}:event_log`);
		const row: Omit<EventLogRecord, "sequence"> = {
			eventId: randomUUID(),
			eventType,
			entityId,
			version,
			payload: JSON.stringify(fields),
			timestamp: new Date().toISOString(),
			requestId: requestId ?? null,
		};
		const [{ sequence }] = await sql.all<{ sequence: number }>(
			'INSERT INTO event_log ("eventId", "eventType", "entityId", "version", "payload", "timestamp", "requestId") VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING "sequence"',
			[row.eventId, row.eventType, row.entityId, row.version, row.payload, row.timestamp, row.requestId],
		);
		return this.toEvent({ ...row, sequence });
	}

	/** Events after `sequence`, oldest first: what a consumer catching up asks for. */
	async readAfter(sequence: number, limit: number): Promise<EventPage<E>> {
		const [rows, lastSequence] = await Promise.all([
			this.model.findAll({ where: { sequence: { [Op.gt]: sequence } }, order: [["sequence", "ASC"]], limit, raw: true }),
			this.lastSequence(),
		]);
		const requestIds: Record<string, string> = {};
		for (const row of rows) if (row.requestId) requestIds[row.eventId] = row.requestId;
		return { events: rows.map((row) => this.toEvent(row)), lastSequence, requestIds };
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
			version: row.version,
		};
		return causedBy({ ...envelope, ...(JSON.parse(row.payload) as EventFields<E>) } as E, row.requestId);
	}
}
