/**
 * The embedded propagation's floor: what `sqlite3` alone takes to carry a rename from one file to
 * another in one process. Each rename is committed in the first file (WAL, synchronous FULL, as
 * the project's writer), then the copy's version-guarded UPDATE is committed in the second; the
 * time from the first commit to the second is kept. Renames are paced at the offered rate, one
 * at a time (each takes less than the interval at 200/s).
 */
import path from "node:path";
import sqlite3 from "sqlite3";

function open(file: string): Promise<sqlite3.Database> {
	return new Promise((resolve, reject) => {
		const db = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(db)));
	});
}

const exec = (db: sqlite3.Database, text: string) => new Promise<void>((resolve, reject) => db.exec(text, (err) => (err ? reject(err) : resolve())));
const run = (db: sqlite3.Database, text: string, params: unknown[]) =>
	new Promise<void>((resolve, reject) => db.run(text, params, (err: Error | null) => (err ? reject(err) : resolve())));

/** ms from each rename's commit to its copy's commit, ascending. */
export async function sqlitePropagationFloor(dir: string, rate: number, count: number, entities = 20): Promise<number[]> {
	const source = await open(path.join(dir, "floor-source.sqlite"));
	const copy = await open(path.join(dir, "floor-copy.sqlite"));
	try {
		for (const [db, table] of [
			[source, "clients"],
			[copy, "copies"],
		] as const) {
			await exec(db, `PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE ${table} ("id" INTEGER PRIMARY KEY, "name" TEXT, "version" INTEGER)`);
			for (let id = 1; id <= entities; id++) await run(db, `INSERT INTO ${table} ("id", "name", "version") VALUES (?, 'First', 1)`, [id]);
		}
		const latencies: number[] = [];
		const started = performance.now();
		for (let i = 0; i < count; i++) {
			const due = started + (i * 1000) / rate;
			const wait = due - performance.now();
			if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
			const id = (i % entities) + 1;
			const version = 2 + Math.floor(i / entities);
			await exec(source, "BEGIN IMMEDIATE");
			await run(source, `UPDATE clients SET "name" = ?, "version" = ? WHERE "id" = ?`, [`Floor ${i}`, version, id]);
			await exec(source, "COMMIT");
			const committed = performance.now();
			await exec(copy, "BEGIN IMMEDIATE");
			await run(copy, `UPDATE copies SET "name" = ?, "version" = ? WHERE "id" = ? AND "version" < ?`, [`Floor ${i}`, version, id, version]);
			await exec(copy, "COMMIT");
			latencies.push(performance.now() - committed);
		}
		return latencies.sort((a, b) => a - b);
	} finally {
		await new Promise((resolve) => source.close(resolve));
		await new Promise((resolve) => copy.close(resolve));
	}
}
