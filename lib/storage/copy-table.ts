/**
 * A consumer's copy table: another service's entities as this one keeps them, one row per
 * entity id with its version and a tombstone flag (goal_projection in the client service,
 * client_projection in the goal service). Every statement on it, plain SQL inside the caller's
 * transaction, made once from the table's name and columns: both copies are the same table but
 * for those.
 */
import type { Held } from "../domain/projection-rules";
import { chunks, forUpdate, type Sql } from "./sql";

export interface CopyTableSpec<C extends Held> {
	table: string;
	/** the entity id column, the primary key */
	key: keyof C & string;
	/** every column, the key, "version" and "deleted" among them, in the order the statements list them */
	columns: ReadonlyArray<keyof C & string>;
	/** a row as either dialect reads it back, its types made exact (BIGINT as text, booleans as 1/0 on SQLite) */
	read(row: C): C;
}

const quoted = (column: string) => `"${column}"`;

/** A row of a save's answer in one round trip: a saved id, a touched id or the closing's answer. */
interface SavedRow {
	saved: number | null;
	touched: number | null;
	closed: number | null;
}

/**
 * A statement run in the same round trip as a save, over the rows the save wrote (PostgreSQL
 * only: a data-modifying CTE that reads them as `"saved"`, every column of the copy). It returns
 * the ids it touched as `"id"`. Where it cannot ride along (SQLite, a save of several chunks)
 * the save says so and the caller runs its own statement instead.
 */
export interface WithSaved {
	text: string;
	params: unknown[];
}

/**
 * What a save wrote: the ids of the copies saved, those `WithSaved` touched (null: it did not
 * run), and the closing's answer (null: it did not ride; the transaction is still open).
 */
export interface Saved {
	saved: Set<number>;
	touched: number[] | null;
	closed: number[] | null;
}

/**
 * The statements that end the transaction, sent with the save and followed by its COMMIT
 * (PostgreSQL, a save of one chunk: `save` with a closing, or `saveUnread`): top-level CTEs
 * (`"name" AS (…), …`, their parameters in order), and the CTE whose `"id"` column is their
 * answer. The consumer's checkpoint moves this way (lib/consumer/checkpoints.ts, closingAdvance).
 */
export interface Closing {
	ctes: string;
	params: unknown[];
	answer: string;
}

/** What `saveUnread` read and wrote: the copies held before it, what it saved, what rode along. */
export interface SavedUnread<C> extends Saved {
	held: Map<number, C>;
	/** the closing's answer */
	closed: number[];
}

export class CopyTable<C extends Held> {
	private readonly list: string;
	private readonly placeholders: string;
	private readonly upsert: string;
	/** the live save's version guard: over an older, living copy only */
	private readonly saveGuard: string;

	constructor(private readonly spec: CopyTableSpec<C>) {
		this.list = spec.columns.map(quoted).join(", ");
		this.placeholders = `(${spec.columns.map(() => "?").join(", ")})`;
		const assignments = spec.columns
			.filter((column) => column !== spec.key)
			.map((column) => `${quoted(column)} = excluded.${quoted(column)}`)
			.join(", ");
		this.upsert = `ON CONFLICT (${quoted(spec.key)}) DO UPDATE SET ${assignments}`;
		this.saveGuard = `${spec.table}."version" < excluded."version" AND NOT ${spec.table}."deleted"`;
	}

	idOf(copy: C): number {
		return Number(copy[this.spec.key]);
	}

	/** Whether `held` is `copy` already, column for column (a rebuild leaves such rows alone). */
	same(held: C | undefined, copy: C): boolean {
		return held !== undefined && this.spec.columns.every((column) => held[column] === copy[column]);
	}

	/**
	 * The copies held for `ids`, locked for update in id order (on PostgreSQL: writers of the same
	 * ids queue in the same order, never in a deadlock).
	 */
	async held(sql: Sql, ids: number[]): Promise<Map<number, C>> {
		const held = new Map<number, C>();
		for (const part of chunks([...new Set(ids)])) {
			const rows = await sql.all<C>(
				`SELECT ${this.list} FROM ${this.spec.table} WHERE ${quoted(this.spec.key)} IN (${part.map(() => "?").join(", ")})
				 ORDER BY ${quoted(this.spec.key)}${forUpdate(sql)}`,
				part,
			);
			for (const row of rows) held.set(Number(row[this.spec.key]), this.spec.read(row));
		}
		return held;
	}

	/**
	 * A whole transaction in one message (PostgreSQL): BEGIN, the copies held for `copies`' ids
	 * (as they were before it: the statement's snapshot), `save`'s upsert under its version guard,
	 * `closing`, and COMMIT. The guard decides every row on its newest version, as `save` does;
	 * only the copies held come from the snapshot, so a copy another replica saved meanwhile counts
	 * as saved by it (not here), never twice. Nothing else may be written from those copies in the
	 * statement: it would see only its snapshot's rows. Null when the copies are more than one
	 * statement's worth: nothing was sent. The closing's locks come last: the union below runs its
	 * parts in order.
	 */
	async saveUnread(sql: Sql, copies: C[], closing: Closing): Promise<SavedUnread<C> | null> {
		const sorted = [...copies].sort((a, b) => this.idOf(a) - this.idOf(b));
		if (sql.dialect !== "postgres" || sorted.length === 0 || chunks(sorted).length > 1) return null;
		const key = quoted(this.spec.key);
		const ids = sorted.map((copy) => this.idOf(copy));
		/** a part's ids in the key's column, every other column null: the held rows' shape */
		const idRow = (part: number, id: string) => `SELECT ${part}, ${this.spec.columns.map((column) => (column === this.spec.key ? id : "NULL")).join(", ")}`;
		const ctes = [
			`"held" AS (SELECT ${this.list} FROM ${this.spec.table} WHERE ${key} IN (${ids.map(() => "?").join(", ")}))`,
			`"saved" AS (INSERT INTO ${this.spec.table} (${this.list}) VALUES ${sorted.map(() => this.placeholders).join(", ")}
				${this.upsert} WHERE ${this.saveGuard} RETURNING ${this.list})`,
			closing.ctes,
		];
		const parts = [`SELECT 0 AS "part", ${this.list} FROM "held"`, `${idRow(1, key)} FROM "saved"`, `${idRow(2, `"id"`)} FROM "${closing.answer}"`];
		const params: unknown[] = [...ids, ...sorted.flatMap((copy) => this.spec.columns.map((column) => copy[column])), ...closing.params];
		const rows = await sql.allAndCommit<C & { part: number }>(`WITH ${ctes.join(", ")} ${parts.join(" UNION ALL ")}`, params);
		const result: SavedUnread<C> = { held: new Map(), saved: new Set(), touched: null, closed: [] };
		for (const row of rows) {
			const id = Number(row[this.spec.key]);
			if (Number(row.part) === 0) result.held.set(id, this.spec.read(row));
			else if (Number(row.part) === 1) result.saved.add(id);
			else result.closed.push(id);
		}
		return result;
	}

	/** The copies with ids in (after, upTo] (upTo null: to the end), locked: a rebuild page's range. */
	async inRange(sql: Sql, after: number, upTo: number | null): Promise<Map<number, C>> {
		const key = quoted(this.spec.key);
		const rows = await sql.all<C>(
			`SELECT ${this.list} FROM ${this.spec.table} WHERE ${key} > ?${upTo === null ? "" : ` AND ${key} <= ?`} ORDER BY ${key}${forUpdate(sql)}`,
			upTo === null ? [after] : [after, upTo],
		);
		return new Map(rows.map((row) => [Number(row[this.spec.key]), this.spec.read(row)]));
	}

	/**
	 * Save copies, each only over an older, living one (the version guard again, in SQL, for
	 * replicas that decided at the same time). Returns the ids whose copy was saved.
	 */
	save(sql: Sql, copies: C[], withSaved?: WithSaved, closing?: Closing): Promise<Saved> {
		return this.write(sql, copies, this.saveGuard, withSaved, closing);
	}

	/**
	 * A rebuild's write: each copy over the one held at its version or older, a tombstone too (the
	 * snapshot is the producer's word; an equal version is rewritten, which repairs a damaged row).
	 * A newer held copy stays. Returns the ids written.
	 */
	overwrite(sql: Sql, copies: C[], withSaved?: WithSaved): Promise<Saved> {
		return this.write(sql, copies, `${this.spec.table}."version" <= excluded."version"`, withSaved);
	}

	/** Remove copies (a rebuild's, of entities the producer's snapshot does not have); returns the rows removed. */
	async remove(sql: Sql, ids: number[]): Promise<C[]> {
		const removed: C[] = [];
		for (const part of chunks(ids)) {
			const rows = await sql.all<C>(
				`DELETE FROM ${this.spec.table} WHERE ${quoted(this.spec.key)} IN (${part.map(() => "?").join(", ")}) RETURNING ${this.list}`,
				part,
			);
			removed.push(...rows.map((row) => this.spec.read(row)));
		}
		return removed;
	}

	/**
	 * One upsert per chunk, in id order, under `guard`; the ids it wrote (and `withSaved`'s, when it
	 * rode along). A `closing` rides only with a save of one statement, which then carries the COMMIT.
	 */
	private async write(sql: Sql, copies: C[], guard: string, withSaved?: WithSaved, closing?: Closing): Promise<Saved> {
		const saved = new Set<number>();
		const sorted = [...copies].sort((a, b) => this.idOf(a) - this.idOf(b));
		const parts = chunks(sorted);
		const key = quoted(this.spec.key);
		const upsert = (part: C[]) => ({
			text: `INSERT INTO ${this.spec.table} (${this.list}) VALUES ${part.map(() => this.placeholders).join(", ")}
				 ${this.upsert} WHERE ${guard}`,
			params: part.flatMap((copy) => this.spec.columns.map((column) => copy[column])),
		});
		if ((withSaved || closing) && sql.dialect === "postgres" && parts.length === 1) {
			// one round trip: the upsert, the statement over what it saved, and the transaction's end
			const { text, params } = upsert(parts[0]);
			const ctes = [`"saved" AS (${text} RETURNING ${this.list})`];
			const answers = [`SELECT ${key} AS "saved", NULL::integer AS "touched", NULL::integer AS "closed" FROM "saved"`];
			const values: unknown[] = [...params];
			if (withSaved) {
				ctes.push(`"touched" AS (${withSaved.text})`);
				answers.push(`SELECT NULL, "id", NULL FROM "touched"`);
				values.push(...withSaved.params);
			}
			if (closing) {
				ctes.push(closing.ctes);
				answers.push(`SELECT NULL, NULL, "id" FROM "${closing.answer}"`);
				values.push(...closing.params);
			}
			const statement = `WITH ${ctes.join(", ")} ${answers.join(" UNION ALL ")}`;
			const rows = closing ? await sql.allAndCommit<SavedRow>(statement, values) : await sql.all<SavedRow>(statement, values);
			const touched: number[] = [];
			const closed: number[] = [];
			for (const row of rows) {
				if (row.saved !== null) saved.add(Number(row.saved));
				if (row.touched !== null) touched.push(Number(row.touched));
				if (row.closed !== null) closed.push(Number(row.closed));
			}
			return { saved, touched: withSaved ? touched : null, closed: closing ? closed : null };
		}
		for (const part of parts) {
			const { text, params } = upsert(part);
			const rows = await sql.all<C>(`${text} RETURNING ${key}`, params);
			for (const row of rows) saved.add(Number(row[this.spec.key]));
		}
		return { saved, touched: null, closed: null };
	}
}
