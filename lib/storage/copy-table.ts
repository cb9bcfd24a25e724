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

export class CopyTable<C extends Held> {
	private readonly list: string;
	private readonly placeholders: string;
	private readonly upsert: string;

	constructor(private readonly spec: CopyTableSpec<C>) {
		this.list = spec.columns.map(quoted).join(", ");
		this.placeholders = `(${spec.columns.map(() => "?").join(", ")})`;
		const assignments = spec.columns
			.filter((column) => column !== spec.key)
			.map((column) => `${quoted(column)} = excluded.${quoted(column)}`)
			.join(", ");
		this.upsert = `ON CONFLICT (${quoted(spec.key)}) DO UPDATE SET ${assignments}`;
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
	save(sql: Sql, copies: C[]): Promise<Set<number>> {
		return this.write(sql, copies, `${this.spec.table}."version" < excluded."version" AND NOT ${this.spec.table}."deleted"`);
	}

	/**
	 * A rebuild's write: each copy over the one held at its version or older, a tombstone too (the
	 * snapshot is the producer's word; an equal version is rewritten, which repairs a damaged row).
	 * A newer held copy stays. Returns the ids written.
	 */
	overwrite(sql: Sql, copies: C[]): Promise<Set<number>> {
		return this.write(sql, copies, `${this.spec.table}."version" <= excluded."version"`);
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

	/** One upsert per chunk, in id order, under `guard`; the ids it wrote. */
	private async write(sql: Sql, copies: C[], guard: string): Promise<Set<number>> {
		const saved = new Set<number>();
		const sorted = [...copies].sort((a, b) => this.idOf(a) - this.idOf(b));
		for (const part of chunks(sorted)) {
			const rows = await sql.all<C>(
				`INSERT INTO ${this.spec.table} (${this.list}) VALUES ${part.map(() => this.placeholders).join(", ")}
				 ${this.upsert} WHERE ${guard} RETURNING ${quoted(this.spec.key)}`,
				part.flatMap((copy) => this.spec.columns.map((column) => copy[column])),
			);
			for (const row of rows) saved.add(Number(row[this.spec.key]));
		}
		return saved;
	}
}
