/**
 * One service's database, reached through Sequelize: SQLite (a file or memory) for a single
 * replica, PostgreSQL when replicas share it. Everything dialect-specific lives here.
 */
import { QueryTypes, Sequelize, type SyncOptions, Transaction } from "sequelize";
import { ConfigError } from "./errors";
import { Mutex } from "./mutex";

export type Dialect = "sqlite" | "postgres";

export class Database {
	readonly sequelize: Sequelize;
	readonly dialect: Dialect;
	/** where the data lives, without credentials: for logs and /api/ready */
	readonly location: string;
	private readonly sqliteWriter = new Mutex();

	constructor(uri: string) {
		if (uri.startsWith("sqlite:")) {
			const storage = uri.slice("sqlite:".length) || ":memory:";
			this.dialect = "sqlite";
			this.location = storage;
			this.sequelize = new Sequelize({ dialect: "sqlite", storage, logging: false });
		} else if (/^postgres(ql)?:\/\//.test(uri)) {
			this.dialect = "postgres";
			this.location = uri.replace(/\/\/[^@/]*@/, "//");
			this.sequelize = new Sequelize(uri, {
				dialect: "postgres",
				logging: false,
				pool: { max: 10, min: 0, idle: 10_000, acquire: 10_000 },
			});
		} else {
			throw new ConfigError("database URI", `'${uri}' is neither sqlite:<file>, sqlite::memory: nor postgres://…`);
		}
	}

	/**
	 * Run `work` in one transaction. SQLite transactions are queued in-process: SQLite has one
	 * writer at a time, and Sequelize gives each SQLite transaction its own connection.
	 */
	transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
		const run = () => this.sequelize.transaction((tx) => work(tx));
		return this.dialect === "sqlite" ? this.sqliteWriter.run(run) : run();
	}

	/**
	 * Run `work` in a savepoint of `tx`: if it throws, only its own writes are rolled back and
	 * the transaction goes on (a failing event must not undo a whole catch-up page).
	 */
	savepoint<T>(tx: Transaction, work: (savepoint: Transaction) => Promise<T>): Promise<T> {
		return this.sequelize.transaction({ transaction: tx }, (savepoint) => work(savepoint));
	}

	/**
	 * Serialise transactions that take the same key until they commit. On PostgreSQL this is a
	 * transaction-scoped advisory lock; SQLite transactions are already serialised.
	 */
	async lock(tx: Transaction, key: string): Promise<void> {
		if (this.dialect !== "postgres") return;
		await this.sequelize.query("SELECT pg_advisory_xact_lock(hashtext(:key))", {
			replacements: { key },
			transaction: tx,
			type: QueryTypes.SELECT,
		});
	}

	/** Create the tables and indexes that are missing; safe when replicas start together. */
	async createSchema(): Promise<void> {
		if (this.dialect === "postgres") {
			// Replicas starting at once would race on CREATE TABLE / CREATE INDEX: one at a time.
			await this.sequelize.transaction(async (tx) => {
				await this.lock(tx, "schema");
				// Sequelize passes the transaction down to every CREATE (its SyncOptions type omits it).
				const options: SyncOptions & { transaction: Transaction } = { transaction: tx };
				await this.sequelize.sync(options);
			});
			return;
		}
		if (this.location !== ":memory:") {
			// WAL: readers never block the writer, and a reader never sees SQLITE_BUSY at commit.
			await this.sequelize.query("PRAGMA journal_mode=WAL");
		}
		await this.sequelize.sync();
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
