/**
 * At most once per request: the keys of the writes a service has done, stored in the same
 * transaction as the write, with the answer it gave.
 *
 * Two things repeat a write. A request message redelivered by RabbitMQ after its first executor
 * committed and died (its request id is the same), and a client that sends its request again
 * with the same `Idempotency-Key` header. Either way the repeat's own work is rolled back when
 * its key collides, and the first answer is returned instead. Keys are kept 24 h at least.
 */
import { createHash } from "node:crypto";
import { DataTypes, type InferAttributes, type InferCreationAttributes, type Model, type ModelStatic, Op } from "sequelize";
import { ConflictError } from "../errors";
import type { Database } from "../storage/database";
import { isUniqueViolation, type Sql, sqlTime } from "../storage/sql";

/** How long a key is kept at least (the contract's 24 h) */
export const REQUEST_KEY_TTL_MS = 24 * 60 * 60 * 1000;

/** What identifies one write for deduplication, and what it was asked to do. */
export interface RequestKey {
	/** `client:<method> <path> <Idempotency-Key>` or `request:<request id>` */
	key: string;
	/** hash of the action's params: the same key with other params is a different request */
	paramsHash: string;
}

/** What a repeat gets: the first answer, or a refusal when the key was used for other params. */
export type Repeat = { kind: "replay"; result: unknown } | { kind: "keyReused" };

interface RequestKeyRow extends Model<InferAttributes<RequestKeyRow>, InferCreationAttributes<RequestKeyRow>> {
	key: string;
	paramsHash: string;
	result: string;
	createdAt: Date;
}

/** JSON with its object keys sorted, so that equal params hash equally whatever their order. */
function canonicalJson(value: unknown): string {
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
	if (value && typeof value === "object") {
		const entries = Object.entries(value as Record<string, unknown>)
			.filter(([, v]) => v !== undefined)
			.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
		return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
	}
	return JSON.stringify(value) ?? "null";
}

export function paramsHash(params: unknown): string {
	return createHash("sha256").update(canonicalJson(params)).digest("base64url");
}

/**
 * The key a write is deduplicated by, or null. A client's Idempotency-Key (scoped by the gateway
 * to method and path) wins; otherwise, inside a cluster, the request id, which a redelivered
 * request message keeps. In one process nothing redelivers a request, so nothing is stored. Pure.
 */
export function requestKeyOf(request: { idempotencyKey?: string; requestId: string; params: unknown; clustered: boolean }): RequestKey | null {
	const hash = paramsHash(request.params);
	if (request.idempotencyKey) return { key: `client:${request.idempotencyKey}`, paramsHash: hash };
	if (request.clustered) return { key: `request:${request.requestId}`, paramsHash: hash };
	return null;
}

/** A repeat's answer from what the first one stored. Pure. */
export function decideRepeat(stored: { paramsHash: string; result: unknown }, repeat: RequestKey): Repeat {
	return stored.paramsHash === repeat.paramsHash ? { kind: "replay", result: stored.result } : { kind: "keyReused" };
}

/**
 * The key was stored by an earlier write: this one's transaction is undone, and `write` answers
 * with the first answer instead. It reaches the client (a 409) only if that answer is gone too.
 */
export class RepeatedRequest extends ConflictError {
	constructor(readonly key: string) {
		super("This request was already done; its answer is no longer kept.", {});
	}
}

export class RequestKeys {
	readonly model: ModelStatic<RequestKeyRow>;

	constructor(db: Database) {
		this.model = db.sequelize.define<RequestKeyRow>(
			"RequestKey",
			{
				key: { type: DataTypes.STRING(160), primaryKey: true },
				paramsHash: { type: DataTypes.STRING(64), allowNull: false },
				result: { type: DataTypes.TEXT, allowNull: false },
				createdAt: { type: DataTypes.DATE, allowNull: false },
			},
			{ tableName: "request_keys", timestamps: false },
		);
	}

	/** Store the key with the answer, in the write's transaction; RepeatedRequest if it is there already. */
	async remember(sql: Sql, request: RequestKey, result: unknown, now = new Date()): Promise<void> {
		const insert = rememberStatement(sql, request, result, now);
		try {
			await sql.run(insert.text, insert.params);
		} catch (err) {
			throw repeatedOr(err, request);
		}
	}

	/** What the first write with this key answered (committed: read outside any transaction). */
	async recall(key: string): Promise<{ paramsHash: string; result: unknown } | null> {
		const row = await this.model.findByPk(key, { raw: true });
		return row ? { paramsHash: row.paramsHash, result: JSON.parse(row.result) } : null;
	}

	/** Forget keys older than the TTL; returns how many. */
	async purge(now = new Date()): Promise<number> {
		return this.model.destroy({ where: { createdAt: { [Op.lt]: new Date(now.getTime() - REQUEST_KEY_TTL_MS) } } });
	}
}

/**
 * The INSERT that stores a key with its answer: run alone by `remember`, or inside the event's
 * append on PostgreSQL (lib/event-log/event-log.ts), where it costs no round trip of its own.
 */
export function rememberStatement(
	sql: Pick<Sql, "dialect">,
	request: RequestKey,
	result: unknown,
	now: Date,
	/** PostgreSQL: stored once per row of this CTE (none: not at all), as a write's key rides with its change */
	perRowOf?: string,
): { text: string; params: unknown[] } {
	const params = [request.key, request.paramsHash, JSON.stringify(result ?? null), sqlTime(sql, now)];
	const into = `INSERT INTO request_keys ("key", "paramsHash", "result", "createdAt")`;
	if (perRowOf) return { text: `${into} SELECT ?::varchar, ?::varchar, ?::text, ?::timestamptz FROM "${perRowOf}"`, params };
	return { text: `${into} VALUES (?, ?, ?, ?)`, params };
}

/** A statement that stored the key failed: RepeatedRequest if the key was there already, else the error itself. */
export function repeatedOr(err: unknown, request: RequestKey): unknown {
	if (!isUniqueViolation(err)) return err;
	// PostgreSQL names the index (the append's own unique index may be the one refused); SQLite names the columns
	const { constraint, message } = err as { constraint?: string; message?: string };
	const ours = constraint !== undefined ? constraint.startsWith("request_keys") : (message ?? "").includes("request_keys");
	return ours ? new RepeatedRequest(request.key) : err;
}
