/**
 * A statement sent to PostgreSQL with the transaction's BEGIN before it and/or its COMMIT after
 * it, in one write and one round trip.
 *
 * `pg` sends a statement and waits for its answer before it sends the next, so a transaction of
 * two statements cost four round trips (BEGIN, one, two, COMMIT), each a system call on either
 * side and PostgreSQL's per-message work. The extended protocol lets several Parse/Bind/Execute
 * run before one Sync: here BEGIN (and COMMIT) travel in the statement's own message, and
 * PostgreSQL answers all of them with one ReadyForQuery, which is all `pg`'s client waits for.
 *
 * What an error does: PostgreSQL skips everything after it up to the Sync, so a statement that
 * fails is never followed by its COMMIT (the transaction is left aborted, for the caller's
 * ROLLBACK); a BEGIN that ran before it is rolled back with it.
 */
import { type Connection, Query, type QueryResult, type QueryResultRow } from "pg";

/** The part of pg's Connection a query writes with (its methods are not in @types/pg). */
interface WireConnection {
	parse(message: { text: string; name?: string }): void;
	bind(message: Record<string, never>): void;
	execute(message: { portal?: string; rows?: number }): void;
	sync(): void;
	stream: { cork?(): void; uncork?(): void };
	/** named statements this connection has prepared, and those sent and not yet answered */
	parsedStatements: Record<string, string>;
	submittedNamedStatements: Record<string, string>;
}

/** A control statement (BEGIN, COMMIT) as the extended protocol sends it: unnamed, no parameters. */
function sendControl(connection: WireConnection, text: string): void {
	connection.parse({ text });
	connection.bind({});
	connection.execute({});
}

export interface Fused {
	/** send BEGIN first: the statement opens the transaction */
	begin: boolean;
	/** send COMMIT after it: the statement is the transaction's last */
	commit: boolean;
}

/**
 * One statement with BEGIN and/or COMMIT around it, for `client.query(…)`. `result` resolves with
 * the statement's own result (not BEGIN's nor COMMIT's).
 */
export class FusedQuery<R extends QueryResultRow> extends Query<R> {
	readonly result: Promise<QueryResult<R>>;
	/** the statement's text and name (pg's Query keeps them too; its typings do not say so) */
	private readonly statement: { text: string; name?: string };

	/** @param statement its text, and its name if PostgreSQL keeps it prepared (lib/storage/sql.ts) */
	constructor(
		statement: { text: string; name?: string },
		values: unknown[],
		private readonly fused: Fused,
	) {
		let settle: (err: Error | undefined, results: unknown) => void = () => undefined;
		const result = new Promise<QueryResult<R>>((resolve, reject) => {
			settle = (err, results) => (err ? reject(err) : resolve(ownResult<R>(results, fused)));
		});
		// queryMode extended: prepared (Parse/Bind/Execute) even without parameters, so that BEGIN can go before it
		super({ ...statement, values, queryMode: "extended" } as ConstructorParameters<typeof Query>[0], (err, results) => settle(err, results));
		this.result = result;
		this.statement = statement;
		// pg's client puts a read timeout around `callback`; nothing else may wait on the query
		this.submit = (connection: Connection) => this.submitFused(connection as unknown as WireConnection);
	}

	/** BEGIN's messages, then pg's own for the statement (corked: one write for all of them). */
	private submitFused(connection: WireConnection): void {
		connection.stream.cork?.();
		try {
			if (this.fused.begin) {
				// A named statement new to this connection is parsed before BEGIN: pg takes the first
				// ParseComplete of a query for its statement's, and if that Parse fails nothing after it runs.
				const { text, name } = this.statement;
				if (name && connection.parsedStatements[name] === undefined && connection.submittedNamedStatements[name] === undefined) {
					connection.parse({ text, name });
					connection.submittedNamedStatements[name] = text;
				}
				sendControl(connection, "BEGIN");
			}
			Query.prototype.submit.call(this, connection as unknown as Connection);
		} finally {
			connection.stream.uncork?.();
		}
	}

	/**
	 * pg's last step of a prepared statement (Execute, then Sync), with COMMIT between the two.
	 * Overrides pg's Query#_getRows, which its prepare calls; only whole results are read here.
	 */
	_getRows(connection: WireConnection, rows?: number): void {
		connection.execute({ portal: "", rows });
		if (this.fused.commit) sendControl(connection, "COMMIT");
		connection.sync();
	}
}

/** pg answers a query of several commands with one result per command: the statement's is after BEGIN's. */
function ownResult<R extends QueryResultRow>(results: unknown, fused: Fused): QueryResult<R> {
	if (!Array.isArray(results)) return results as QueryResult<R>;
	return results[fused.begin ? 1 : 0] as QueryResult<R>;
}
