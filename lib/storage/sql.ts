/**
 * Plain SQL on one connection inside one transaction: what the write and apply paths run.
 *
 * Why not Sequelize's models there: measured on this machine, a model call costs 3-4× the
 * statement it sends, and Sequelize opens a fresh SQLite connection per transaction. Models
 * still define the schema (`sync`) and serve the reads; every statement that runs inside a
 * write goes through this interface, with `?` placeholders and "quoted" camelCase columns, the
 * same text for SQLite and PostgreSQL.
 */
import type { ClientBase, QueryResult, QueryResultRow } from "pg";
import { FusedQuery } from "./pg-fused-query";
import type { Database as SqliteDatabase, Statement } from "sqlite3";

export type Dialect = "sqlite" | "postgres";

export interface Sql {
	readonly dialect: Dialect;
	/** Rows of a SELECT, or of an INSERT/UPDATE … RETURNING. */
	all<T extends object>(text: string, params?: readonly unknown[]): Promise<T[]>;
	/** Run a statement; resolves with the number of rows it changed. */
	run(text: string, params?: readonly unknown[]): Promise<number>;
	/**
	 * Run `work` in a savepoint: if it throws, only its own writes are undone and the
	 * transaction goes on; the error is rethrown.
	 */
	savepoint<T>(work: () => Promise<T>): Promise<T>;
	/**
	 * The transaction's last statement, committed with it: on PostgreSQL its COMMIT travels in
	 * the same message (one round trip for both); on SQLite the group commit commits after it.
	 * Nothing may run on this Sql after it. Rows as `all`.
	 */
	allAndCommit<T extends object>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

/**
 * `FOR UPDATE` where rows can be locked (PostgreSQL); SQLite has one writer anyway. `of`: the
 * alias whose rows a join locks (the others are only read).
 */
export function forUpdate(sql: Sql, of?: string): string {
	if (sql.dialect !== "postgres") return "";
	return of ? ` FOR UPDATE OF ${of}` : " FOR UPDATE";
}

/**
 * A time as each dialect stores it. Sequelize reads SQLite DATE columns back only from its own
 * text form (`2026-01-02 03:04:05.678 +00:00`); PostgreSQL takes the Date itself.
 */
export function sqlTime(sql: Pick<Sql, "dialect">, date: Date): Date | string {
	return sql.dialect === "postgres" ? date : date.toISOString().replace("T", " ").replace("Z", " +00:00");
}

/** sqlTime, or NULL for no time (a living entity's `deletedAt`). */
export function sqlTimeOrNull(sql: Pick<Sql, "dialect">, date: Date | null): Date | string | null {
	return date === null ? null : sqlTime(sql, date);
}

/** A DATE column as read back: a Date from pg, Sequelize's text from SQLite. */
export function readTime(value: unknown): Date {
	return value instanceof Date ? value : new Date(String(value));
}

/** A BOOLEAN column as read back: true/false from pg, 1/0 from SQLite. */
export function readBoolean(value: unknown): boolean {
	return value === true || value === 1 || value === "1";
}

/** Statements with a list of values stay well below SQLite's limit of bound parameters. */
export function chunks<T>(items: readonly T[], size = 400): T[][] {
	const out: T[][] = [];
	for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
	return out;
}

/** A unique index refused the write (SQLITE_CONSTRAINT … UNIQUE, or PostgreSQL 23505). */
export function isUniqueViolation(err: unknown): boolean {
	const e = err as { code?: unknown; message?: unknown } | null;
	if (!e) return false;
	if (e.code === "23505") return true;
	return e.code === "SQLITE_CONSTRAINT" && typeof e.message === "string" && e.message.includes("UNIQUE");
}

/** Whether a database error is about `table`: PostgreSQL names it (`table`), SQLite's message names its columns (`table.column`). */
export function onTable(err: unknown, table: string): boolean {
	const e = err as { table?: unknown; message?: unknown } | null;
	if (!e) return false;
	if (typeof e.table === "string") return e.table === table;
	return typeof e.message === "string" && e.message.includes(`${table}.`);
}

/** Savepoint names within one transaction: nested savepoints each get their own. */
abstract class SavepointSql implements Sql {
	abstract readonly dialect: Dialect;
	/** savepoints open now: a statement inside one is never the transaction's last */
	protected depth = 0;
	abstract all<T extends object>(text: string, params?: readonly unknown[]): Promise<T[]>;
	abstract run(text: string, params?: readonly unknown[]): Promise<number>;
	abstract allAndCommit<T extends object>(text: string, params?: readonly unknown[]): Promise<T[]>;

	async savepoint<T>(work: () => Promise<T>): Promise<T> {
		const name = `sp_${++this.depth}`;
		await this.run(`SAVEPOINT ${name}`);
		try {
			const result = await work();
			await this.run(`RELEASE SAVEPOINT ${name}`);
			return result;
		} catch (err) {
			await this.run(`ROLLBACK TO SAVEPOINT ${name}`);
			await this.run(`RELEASE SAVEPOINT ${name}`);
			throw err;
		} finally {
			this.depth--;
		}
	}
}

/** Statements that change no row and take no parameter: BEGIN, SAVEPOINT, COMMIT … */
const CONTROL = /^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b/;

/**
 * One long-lived SQLite connection (the service's writer). Statements are prepared once and
 * kept: the write path runs the same few statements thousands of times.
 */
export class SqliteSql extends SavepointSql {
	readonly dialect = "sqlite" as const;
	private readonly statements = new Map<string, Statement>();

	constructor(readonly connection: SqliteDatabase) {
		super();
	}

	/**
	 * The statement of `text`, prepared at its first use. Prepared with a callback: a statement
	 * SQLite refuses (a missing table, a syntax error) fails the call that ran it, is not kept,
	 * and never reaches node-sqlite3's unhandled 'error' event.
	 */
	private statement(text: string): Statement | Promise<Statement> {
		return this.statements.get(text) ?? this.prepare(text);
	}

	private async prepare(text: string): Promise<Statement> {
		const statement = await new Promise<Statement>((resolve, reject) => {
			const prepared = this.connection.prepare(text, (err: Error | null) => (err ? reject(err) : resolve(prepared)));
		});
		// two first uses at once prepare twice: one is kept, the other finalized
		const kept = this.statements.get(text);
		if (kept) {
			statement.finalize();
			return kept;
		}
		this.statements.set(text, statement);
		return statement;
	}

	async all<T extends object>(text: string, params: readonly unknown[] = []): Promise<T[]> {
		const statement = await this.statement(text);
		return new Promise((resolve, reject) => {
			statement.all(params as unknown[], (err: Error | null, rows: T[]) => (err ? reject(err) : resolve(rows)));
		});
	}

	async run(text: string, params: readonly unknown[] = []): Promise<number> {
		// Transaction control through exec: one trip to the worker thread instead of three
		// (prepare, step, finalize): measured 8 µs against 60 µs a statement here.
		if (params.length === 0 && CONTROL.test(text)) {
			return new Promise((resolve, reject) => {
				this.connection.exec(text, (err: Error | null) => (err ? reject(err) : resolve(0)));
			});
		}
		const statement = await this.statement(text);
		return new Promise((resolve, reject) => {
			statement.run(params as unknown[], function (this: { changes: number }, err: Error | null) {
				return err ? reject(err) : resolve(this.changes);
			});
		});
	}

	/** The group commit (lib/storage/group-commit.ts) commits the whole group after its writes. */
	allAndCommit<T extends object>(text: string, params: readonly unknown[] = []): Promise<T[]> {
		return this.all<T>(text, params);
	}

	/** Finalize the prepared statements (before the connection closes). */
	async finalize(): Promise<void> {
		const all = [...this.statements.values()];
		this.statements.clear();
		await Promise.all(all.map((statement) => new Promise<void>((resolve) => statement.finalize(() => resolve()))));
	}
}

/** A statement as pg sends it: `$n` placeholders, and a name when PostgreSQL keeps it prepared. */
interface PgStatement {
	text: string;
	name?: string;
}

const pgStatements = new Map<string, PgStatement>();

/**
 * How many statement texts are named at most (per process; each connection prepares a name at
 * its first use). Texts with lists of values (`IN (?, ?, …)`) differ by their length: past this
 * many, new texts are sent unnamed, parsed and planned each time as before.
 */
const PG_NAMED_MAX = 300;

/** Data statements are named; DDL and transaction control are sent as text each time. */
const NAMEABLE = /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i;

/**
 * `?` placeholders as PostgreSQL's `$1, $2, …` (our statements hold no `?` in literals), and a
 * name: a named statement is parsed and planned by PostgreSQL once per connection, then only
 * bound and run (measured: parse and plan were most of the server's CPU for a short statement).
 * No statement on this path selects `*`, so a migration that adds a column cannot change a
 * prepared statement's result.
 */
function pgStatement(text: string): PgStatement {
	let statement = pgStatements.get(text);
	if (statement === undefined) {
		let n = 0;
		const converted = text.replace(/\?/g, () => `$${++n}`);
		const named = pgStatements.size < PG_NAMED_MAX && NAMEABLE.test(text);
		statement = named ? { text: converted, name: `cg_${pgStatements.size + 1}` } : { text: converted };
		pgStatements.set(text, statement);
	}
	return statement;
}

/**
 * Where a PostgreSQL transaction driven by PgSql is: `pending` until its first statement, which
 * carries the BEGIN (lib/storage/pg-fused-query.ts); `open` after; `committed` once a statement
 * carried its COMMIT. `none`: statements that commit on their own (no transaction).
 */
type PgTransactionState = "none" | "pending" | "open" | "committed";

/** A pg connection of the pool, inside the transaction Database drives on it. */
export class PgSql extends SavepointSql {
	readonly dialect = "postgres" as const;
	private state: PgTransactionState;

	/** @param transaction whether the statements form one transaction (its BEGIN sent with the first) */
	constructor(
		private readonly client: ClientBase,
		transaction = false,
	) {
		super();
		this.state = transaction ? "pending" : "none";
	}

	async all<T extends object>(text: string, params: readonly unknown[] = []): Promise<T[]> {
		return (await this.query<T>(text, params, false)).rows;
	}

	async run(text: string, params: readonly unknown[] = []): Promise<number> {
		return (await this.query(text, params, false)).rowCount ?? 0;
	}

	async allAndCommit<T extends object>(text: string, params: readonly unknown[] = []): Promise<T[]> {
		// inside a savepoint the statement is not the transaction's last: the caller commits later
		const commit = this.depth === 0 && (this.state === "pending" || this.state === "open");
		return (await this.query<T>(text, params, commit)).rows;
	}

	/** Whether BEGIN went out and no COMMIT yet: what a failure must ROLLBACK. */
	get open(): boolean {
		return this.state === "open";
	}

	/** Commit, unless a statement carried the COMMIT already or none ran (nothing began). */
	async commit(): Promise<void> {
		if (this.state !== "open") return;
		await this.client.query("COMMIT");
		this.state = "committed";
	}

	private async query<T extends object>(text: string, params: readonly unknown[], commit: boolean): Promise<QueryResult<T & QueryResultRow>> {
		if (this.state === "committed") throw new Error(`a statement after its transaction's COMMIT: ${text.slice(0, 60)}`);
		const begin = this.state === "pending";
		const values = params as unknown[];
		const statement = pgStatement(text);
		if (!begin && !commit) return this.client.query<T & QueryResultRow>({ ...statement, values });
		// open from here on, whatever the answer: a BEGIN that ran before a failing statement is rolled back by the caller
		if (begin) this.state = "open";
		const query = new FusedQuery<T & QueryResultRow>(statement, values, { begin, commit });
		this.client.query(query);
		const result = await query.result;
		if (commit) this.state = "committed";
		return result;
	}
}
