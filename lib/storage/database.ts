/**
 * One service's database: SQLite (a file or memory) for a single replica, PostgreSQL when
 * replicas share it. Everything dialect-specific about transactions lives here.
 *
 * - Sequelize defines the schema and serves reads (on SQLite: its own connection, which in WAL
 *   mode sees committed data only).
 * - Writes run plain SQL (lib/storage/sql.ts) in `transaction`. On SQLite they go through one
 *   long-lived writer connection with group commit (lib/storage/group-commit.ts); on
 *   PostgreSQL each is a transaction of its own from the pool.
 */
import type { Client, Pool, PoolClient } from "pg";
import { QueryTypes, Sequelize, type SyncOptions, type Transaction } from "sequelize";
import sqlite3 from "sqlite3";
import { ConfigError, isDatabaseUnavailable } from "../errors";
import { GROUP_COMMIT_DEFAULTS, type GroupCommitOptions, GroupCommitter } from "./group-commit";
import { type Dialect, PgSql, type Sql, SqliteSql } from "./sql";

export type { Dialect } from "./sql";

/** What a service says of its database in /api/ready. */
export interface DatabaseStatus {
	status: "UP" | "DOWN";
	dialect: Dialect;
	message?: string;
}

/** A service that can say so (mixins/database.mixin.ts gives it the method). */
export interface DatabaseProbe {
	checkDatabase(): Promise<DatabaseStatus>;
}

interface SqliteWriter {
	sql: SqliteSql;
	committer: GroupCommitter;
	/** false for `:memory:`, whose one database is Sequelize's own connection */
	owned: boolean;
}

function openSqlite(file: string): Promise<sqlite3.Database> {
	return new Promise((resolve, reject) => {
		const connection = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(connection)));
	});
}

/**
 * How long a pooled PostgreSQL connection may sit idle before it is closed. Every replica has two
 * pools (reads, writes) of up to 10; held for 10 s after a burst, the idle ones of a few replicas
 * (and of anything else on the server) filled PostgreSQL's default 100 connections, and the next
 * connection was refused ("too many clients already": 500/503 answers). A busy pool keeps its
 * connections whatever this is; an idle one gives them back within 2 s.
 */
const PG_IDLE_MS = 2000;

/** PostgreSQL connections per pool and replica unless DB_POOL_MAX says otherwise. */
export const PG_POOL_MAX_DEFAULT = 10;

/** How long a ROLLBACK may take before its connection is given up. */
const ROLLBACK_TIMEOUT_MS = 2000;

/** ROLLBACK, bounded in time; resolves with the error that makes the connection unusable, if any. */
async function rollback(client: PoolClient): Promise<Error | undefined> {
	let timer: NodeJS.Timeout | undefined;
	try {
		await Promise.race([
			client.query("ROLLBACK"),
			new Promise((_, reject) => {
				timer = setTimeout(() => reject(new Error(`ROLLBACK took over ${ROLLBACK_TIMEOUT_MS} ms`)), ROLLBACK_TIMEOUT_MS);
			}),
		]);
		return undefined;
	} catch (err) {
		return err as Error;
	} finally {
		clearTimeout(timer);
	}
}

export class Database {
	readonly sequelize: Sequelize;
	readonly dialect: Dialect;
	/** where the data lives, without credentials: for logs and /api/ready */
	readonly location: string;
	private writer: SqliteWriter | null = null;
	/** PostgreSQL: the write path's own pool (pg itself: a Sequelize transaction costs ~5 ms more) */
	private readonly pgPool: Pool | null = null;
	/** PostgreSQL: the URI, for a connection of its own outside the pool (openSession) */
	private readonly pgUri: string | null = null;

	/**
	 * @param pgPoolMax PostgreSQL: connections per pool at most (reads and writes each have one;
	 *   DB_POOL_MAX): replicas × 2 × this must stay below the server's max_connections
	 */
	constructor(
		uri: string,
		private readonly groupCommit: GroupCommitOptions = GROUP_COMMIT_DEFAULTS,
		pgPoolMax = PG_POOL_MAX_DEFAULT,
	) {
		if (uri.startsWith("sqlite:")) {
			const storage = uri.slice("sqlite:".length) || ":memory:";
			this.dialect = "sqlite";
			this.location = storage;
			this.sequelize = new Sequelize({ dialect: "sqlite", storage, logging: false });
		} else if (/^postgres(ql)?:\/\//.test(uri)) {
			this.dialect = "postgres";
			this.location = uri.replace(/\/\/[^@/]*@/, "//");
			this.pgUri = uri;
			this.sequelize = new Sequelize(uri, {
				dialect: "postgres",
				logging: false,
				pool: { max: pgPoolMax, min: 0, idle: PG_IDLE_MS, acquire: 10_000 },
			});
			// pg is loaded only here: an embedded node (SQLite) does not carry it in memory
			const { Pool: PgPool } = require("pg") as typeof import("pg");
			this.pgPool = new PgPool({
				connectionString: uri,
				max: pgPoolMax,
				idleTimeoutMillis: PG_IDLE_MS,
				connectionTimeoutMillis: 10_000,
				// a statement on a connection that died without a word fails instead of hanging
				query_timeout: 10_000,
				keepAlive: true,
			});
			// an idle connection cut by a database restart: the pool drops it; nothing to crash for
			this.pgPool.on("error", () => undefined);
		} else {
			throw new ConfigError("database URI", `'${uri}' is neither sqlite:<file>, sqlite::memory: nor postgres://…`);
		}
	}

	/**
	 * Run `work` in one transaction and resolve once it is committed. On SQLite, concurrent
	 * calls share a transaction (each in its own savepoint) and its COMMIT.
	 */
	async transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
		if (this.dialect === "sqlite") {
			if (!this.writer) throw new Error(`the database ${this.location} is not open for writes`);
			return this.writer.committer.run(work);
		}
		return this.pgTransaction(work);
	}

	private async pgTransaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
		const client = await (this.pgPool as Pool).connect();
		// A connection reset mid-transaction is also emitted as 'error' on the checked-out client;
		// unheard, it would kill the process. The query that was running fails with it anyway.
		const onError = () => undefined;
		client.on("error", onError);
		let broken: Error | undefined;
		try {
			await client.query("BEGIN");
			const result = await work(new PgSql(client));
			await client.query("COMMIT");
			return result;
		} catch (err) {
			if (isDatabaseUnavailable(err)) {
				// The connection died under the query (a database restart): a ROLLBACK sent on it
				// would wait for an answer that never comes, and hold the pool's slot with it.
				broken = err as Error;
			} else {
				broken = await rollback(client);
			}
			throw err;
		} finally {
			client.off("error", onError);
			// a broken connection is closed, never handed out again
			client.release(broken);
		}
	}

	/**
	 * Serialise transactions that take the same key until they commit. On PostgreSQL this is a
	 * transaction-scoped advisory lock; SQLite transactions are already serialised.
	 */
	async lock(sql: Sql, key: string): Promise<void> {
		if (sql.dialect !== "postgres") return;
		await sql.all("SELECT pg_advisory_xact_lock(hashtext(?)) AS locked", [key]);
	}

	/**
	 * PostgreSQL: a connection of its own, outside the pool, for what lives as long as a session
	 * (a session-level advisory lock: released by PostgreSQL when this connection closes, also
	 * when its process is killed). The caller listens for its 'error' and ends it.
	 */
	async openSession(): Promise<Client> {
		if (!this.pgUri) throw new Error(`the database ${this.location} has no sessions of its own (SQLite)`);
		const { Client: PgClient } = require("pg") as typeof import("pg");
		const client = new PgClient({ connectionString: this.pgUri, connectionTimeoutMillis: 5_000, query_timeout: 5_000, keepAlive: true });
		client.on("error", () => undefined);
		try {
			await client.connect();
		} catch (err) {
			await client.end().catch(() => undefined);
			throw err;
		}
		return client;
	}

	/** Create what is missing of the schema, then open the writer. Safe when replicas start together. */
	async open(): Promise<void> {
		await this.createSchema();
		if (this.dialect !== "sqlite" || this.writer) return;
		const inMemory = this.location === ":memory:";
		// `:memory:` is one database per connection: write on Sequelize's own
		const connection = inMemory
			? ((await this.sequelize.connectionManager.getConnection({ type: "write" })) as unknown as sqlite3.Database)
			: await openSqlite(this.location);
		const sql = new SqliteSql(connection);
		if (!inMemory) {
			// every commit on disk before it is answered; wait, do not fail, on a reader's lock
			await sql.run("PRAGMA synchronous=FULL");
			await sql.run("PRAGMA busy_timeout=5000");
		}
		this.writer = { sql, committer: new GroupCommitter(sql, this.groupCommit), owned: !inMemory };
	}

	/** Let queued writes commit, then close the writer (Sequelize is closed by its adapter). */
	async close(): Promise<void> {
		if (this.pgPool && !this.pgPool.ended) await this.pgPool.end();
		const writer = this.writer;
		if (!writer) return;
		this.writer = null;
		await writer.committer.close();
		await writer.sql.finalize();
		if (writer.owned) await new Promise<void>((resolve) => writer.sql.connection.close(() => resolve()));
	}

	private async createSchema(): Promise<void> {
		if (this.dialect === "postgres") {
			// Replicas starting at once would race on CREATE TABLE / CREATE INDEX: one at a time.
			await this.sequelize.transaction(async (tx) => {
				await this.sequelize.query("SELECT pg_advisory_xact_lock(hashtext('schema'))", { transaction: tx, type: QueryTypes.SELECT });
				// Sequelize passes the transaction down to every CREATE (its SyncOptions type omits it).
				const options: SyncOptions & { transaction: Transaction } = { transaction: tx };
				await this.sequelize.sync(options);
				await this.addMissingColumns(tx);
				await this.addMissingIndexes(tx);
			});
			return;
		}
		if (this.location !== ":memory:") {
			// WAL: readers never block the writer, and a reader never sees SQLITE_BUSY at commit.
			await this.sequelize.query("PRAGMA journal_mode=WAL");
			await this.sequelize.query("PRAGMA busy_timeout=5000");
		}
		await this.sequelize.sync();
		await this.addMissingColumns();
		await this.addMissingIndexes();
	}

	/**
	 * Named indexes a model gained after its table was created (sync() creates the indexes of new
	 * tables only): created where missing. Only ever added, like columns; plain CREATE INDEX, which
	 * on a large table takes a while once, at the first start of the version that adds it.
	 */
	private async addMissingIndexes(transaction?: Transaction): Promise<void> {
		const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
		for (const model of Object.values(this.sequelize.models)) {
			const table = model.getTableName() as string;
			for (const index of model.options.indexes ?? []) {
				if (!index.name || index.unique) continue;
				const fields = (index.fields ?? []).map((field) => quote(typeof field === "string" ? field : String((field as { name: string }).name)));
				await this.sequelize.query(`CREATE INDEX IF NOT EXISTS ${quote(index.name)} ON ${quote(table)} (${fields.join(", ")})`, { transaction });
			}
		}
	}

	/**
	 * Columns a model gained after its table was created (sync() creates missing tables only): a
	 * database from an earlier version gets them, nullable, so its rows stay valid. This is the
	 * whole of our migrations: columns are only ever added, never changed or dropped.
	 */
	private async addMissingColumns(transaction?: Transaction): Promise<void> {
		const tables = this.sequelize.getQueryInterface();
		for (const model of Object.values(this.sequelize.models)) {
			const table = model.getTableName() as string;
			const existing = await tables.describeTable(table, { transaction } as object);
			for (const [name, attribute] of Object.entries(model.getAttributes())) {
				const column = attribute.field ?? name;
				if (column in existing) continue;
				await tables.addColumn(table, column, { type: attribute.type, allowNull: true }, { transaction });
			}
		}
	}

	async ping(timeoutMs: number): Promise<void> {
		let timer: NodeJS.Timeout | undefined;
		const timeout = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
		});
		try {
			await Promise.race([this.sequelize.query("SELECT 1", { type: QueryTypes.SELECT }), timeout]);
		} finally {
			clearTimeout(timer);
		}
	}
}
