/**
 * One service's database: SQLite (a file or memory) for a single replica, PostgreSQL when
 * replicas share it. Everything dialect-specific about transactions lives here.
 *
 * - The schema is made by numbered migrations (lib/storage/migrations/), applied by `open`.
 * - Sequelize serves reads (on SQLite: its own connection, which in WAL mode sees committed data
 *   only).
 * - Writes run plain SQL (lib/storage/sql.ts) in `transaction`. On SQLite they go through one
 *   long-lived writer connection with group commit (lib/storage/group-commit.ts); on
 *   PostgreSQL each is a transaction of its own on a connection of Sequelize's pool, the one
 *   pool of the service and replica (reads, writes and migrations share it).
 */
import type { Client, ClientBase } from "pg";
import { QueryTypes, Sequelize } from "sequelize";
import sqlite3 from "sqlite3";
import { ConfigError, isDatabaseUnavailable } from "../errors";
import { GROUP_COMMIT_DEFAULTS, type GroupCommitOptions, GroupCommitter } from "./group-commit";
import { type MigrationReport, migrate } from "./migrate";
import type { Schema } from "./migrations/migration";
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
 * How long a pooled PostgreSQL connection may sit idle before it is closed. Held for 10 s after a
 * burst, the idle connections of a few replicas (and of anything else on the server) filled
 * PostgreSQL's default 100 connections, and the next connection was refused ("too many clients
 * already": 500/503 answers). A busy pool keeps its connections whatever this is; an idle one
 * gives them back within 2 s.
 */
const PG_IDLE_MS = 2000;

/** PostgreSQL connections per replica unless DB_POOL_MAX says otherwise. */
export const PG_POOL_MAX_DEFAULT = 10;

/** How long a ROLLBACK may take before its connection is given up. */
const ROLLBACK_TIMEOUT_MS = 2000;

/** ROLLBACK, bounded in time; resolves with the error that makes the connection unusable, if any. */
async function rollback(client: ClientBase): Promise<Error | undefined> {
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

export interface DatabaseOptions {
	/** the tables this database holds (lib/storage/migrations/); none: a bare database (tests of the storage itself) */
	schema?: Schema;
	groupCommit?: GroupCommitOptions;
	/** PostgreSQL: connections of this replica at most (DB_POOL_MAX), reads and writes together */
	poolMax?: number;
}

export class Database {
	readonly sequelize: Sequelize;
	readonly dialect: Dialect;
	/** where the data lives, without credentials: for logs and /api/ready */
	readonly location: string;
	private writer: SqliteWriter | null = null;
	/** PostgreSQL: the URI, for a connection of its own outside the pool (openSession) */
	private readonly pgUri: string | null = null;

	private readonly schema: Schema | null;
	private readonly groupCommit: GroupCommitOptions;

	/**
	 * `options.poolMax`: PostgreSQL connections of this replica at most (DB_POOL_MAX): replicas ×
	 * this must stay below the server's max_connections
	 */
	constructor(uri: string, options: DatabaseOptions = {}) {
		this.schema = options.schema ?? null;
		this.groupCommit = options.groupCommit ?? GROUP_COMMIT_DEFAULTS;
		const pgPoolMax = options.poolMax ?? PG_POOL_MAX_DEFAULT;
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
				dialectOptions: {
					connectionTimeoutMillis: 10_000,
					// a statement on a connection that died without a word fails instead of hanging
					query_timeout: 10_000,
					keepAlive: true,
				},
			});
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

	/**
	 * One write statement, committed on its own: on PostgreSQL one round trip (no BEGIN and
	 * COMMIT around it, as `transaction` sends); on SQLite it joins the writer's group commit.
	 * For writes that need no other statement beside them (a checkpoint's upsert).
	 */
	async statement(text: string, params: unknown[]): Promise<void> {
		if (this.dialect === "sqlite") {
			await this.transaction((sql) => sql.run(text, params));
			return;
		}
		await this.onPooledConnection("write", (sql) => sql.run(text, params));
	}

	/**
	 * A read of committed data in plain SQL, outside any transaction: on PostgreSQL on a connection
	 * of the pool, the statement named as writes are (lib/storage/sql.ts); on SQLite on Sequelize's
	 * read connection. For the reads on a request's path (goal creation's client check, a cache
	 * miss, the relay's page), where a model call cost several times its statement.
	 */
	async read<T extends object>(text: string, params: readonly unknown[] = []): Promise<T[]> {
		if (this.dialect === "sqlite") {
			return this.sequelize.query<T>(text, { replacements: params as unknown[], type: QueryTypes.SELECT });
		}
		return this.onPooledConnection("read", (sql) => sql.all<T>(text, params));
	}

	/**
	 * PostgreSQL: `work` on a connection of the pool, outside any transaction (each statement
	 * commits on its own). As in pgTransaction, a connection that died under it is closed, never
	 * handed out again.
	 */
	private async onPooledConnection<T>(type: "read" | "write", work: (sql: PgSql) => Promise<T>): Promise<T> {
		const connections = this.sequelize.connectionManager;
		const client = (await connections.getConnection({ type })) as ClientBase;
		let broken = false;
		try {
			return await work(new PgSql(client));
		} catch (err) {
			broken = isDatabaseUnavailable(err);
			throw err;
		} finally {
			if (broken) await connections.destroyConnection(client).catch(() => undefined);
			else connections.releaseConnection(client);
		}
	}

	/**
	 * A transaction of plain SQL on a connection of Sequelize's pool, driven by hand: measured
	 * against pg's own Pool (8 writers, BEGIN/INSERT/COMMIT), the same CPU per transaction or less,
	 * where a Sequelize transaction costs ~5 ms more. A connection that breaks is also 'error'
	 * on its client: Sequelize's own listener (added at connect) marks it invalid and drops it.
	 */
	private async pgTransaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
		const connections = this.sequelize.connectionManager;
		const client = (await connections.getConnection({ type: "write" })) as ClientBase;
		let broken: Error | undefined;
		// BEGIN goes with the first statement, COMMIT with the one that says it is the last (or after work)
		const sql = new PgSql(client, true);
		try {
			const result = await work(sql);
			await sql.commit();
			return result;
		} catch (err) {
			if (isDatabaseUnavailable(err)) {
				// The connection died under the query (a database restart): a ROLLBACK sent on it
				// would wait for an answer that never comes, and hold the pool's slot with it.
				broken = err as Error;
			} else if (sql.open) {
				broken = await rollback(client);
			}
			throw err;
		} finally {
			// a broken connection is closed, never handed out again
			if (broken) await connections.destroyConnection(client).catch(() => undefined);
			else connections.releaseConnection(client);
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

	/**
	 * Apply the schema's pending migrations, then open the writer. Safe when replicas start
	 * together (lib/storage/migrate.ts).
	 */
	async open(): Promise<MigrationReport> {
		if (this.dialect === "postgres") return this.migratePostgres();
		if (this.writer) return { applied: [], unknown: [] };
		const inMemory = this.location === ":memory:";
		if (!inMemory) {
			// WAL: readers never block the writer, and a reader never sees SQLITE_BUSY at commit.
			await this.sequelize.query("PRAGMA journal_mode=WAL");
			// the read connection's own: busy_timeout is per connection
			await this.sequelize.query("PRAGMA busy_timeout=5000");
		}
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
		const report = this.schema ? await migrate(sql, this.schema) : { applied: [], unknown: [] };
		this.writer = { sql, committer: new GroupCommitter(sql, this.groupCommit), owned: !inMemory };
		return report;
	}

	/**
	 * PostgreSQL: migrate on a connection of the pool, closed after rather than pooled again:
	 * nothing of the session (its advisory lock above all) can outlive the migrations.
	 */
	private async migratePostgres(): Promise<MigrationReport> {
		if (!this.schema) return { applied: [], unknown: [] };
		const connections = this.sequelize.connectionManager;
		const client = (await connections.getConnection({ type: "write" })) as ClientBase;
		try {
			return await migrate(new PgSql(client), this.schema);
		} finally {
			await connections.destroyConnection(client).catch(() => undefined);
		}
	}

	/** Let queued writes commit, then close the writer (Sequelize is closed by its adapter). */
	async close(): Promise<void> {
		const writer = this.writer;
		if (!writer) return;
		this.writer = null;
		await writer.committer.close();
		await writer.sql.finalize();
		if (writer.owned) await new Promise<void>((resolve) => writer.sql.connection.close(() => resolve()));
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
