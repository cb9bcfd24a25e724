/**
 * The group committer itself, on a real SQLite file: writes share a transaction, each in its own
 * savepoint; a failing write undoes only its own work; a write queued at the moment a drain ends
 * is still committed; a full queue, and a write that waits too long, are refused with a 503 and
 * write nothing.
 */
import path from "node:path";
import { DatabaseBusyError } from "../../lib/errors";
import { Database } from "../../lib/storage/database";
import type { Sql } from "../../lib/storage/sql";
import { removeDir, tempDataDir } from "../helpers/system";

const dir = tempDataDir();
let db: Database;

beforeAll(async () => {
	db = new Database(`sqlite:${path.join(dir, "gc.sqlite")}`);
	await db.open();
	await db.transaction((sql) => sql.run('CREATE TABLE IF NOT EXISTS notes ("id" INTEGER PRIMARY KEY, "text" TEXT NOT NULL UNIQUE)'));
});

afterAll(async () => {
	await db.close();
	await db.sequelize.close();
	removeDir(dir);
});

const texts = async () => (await db.sequelize.query('SELECT "text" FROM notes ORDER BY "id"', { raw: true }))[0].map((row) => (row as { text: string }).text);
const insert = (text: string) => (sql: Sql) => sql.run('INSERT INTO notes ("text") VALUES (?)', [text]);

beforeEach(() => db.transaction((sql) => sql.run("DELETE FROM notes")));

test("given concurrent writes with a failing one among them, when they commit together, then only the failing one's work is undone", async () => {
	const results = await Promise.allSettled([
		db.transaction(insert("a")),
		db.transaction(async (sql) => {
			await insert("b")(sql);
			await insert("a")(sql); // UNIQUE: the whole write fails, "b" with it
		}),
		db.transaction(insert("c")),
	]);
	expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
	expect(await texts()).toEqual(["a", "c"]);
});

test("given a write alone, when it fails half-way, then none of its work is kept, its own error is its answer, and the next write commits", async () => {
	const alone = db.transaction(async (sql) => {
		await insert("half")(sql);
		throw new Error("failed after its first statement");
	});
	await expect(alone).rejects.toThrow("failed after its first statement");
	expect(await texts()).toEqual([]);
	await db.transaction(insert("next"));
	expect(await texts()).toEqual(["next"]);
});

test("given a write alone, when it commits, then it ran in no savepoint; given three at once, then each in its own", async () => {
	// savepoints open around the write when it ran (lib/storage/sql.ts counts them)
	const depthOf = (text: string) => async (sql: Sql) => {
		await insert(text)(sql);
		return (sql as unknown as { depth: number }).depth;
	};
	expect(await db.transaction(depthOf("solo"))).toBe(0);
	expect(await Promise.all([db.transaction(depthOf("pair 1")), db.transaction(depthOf("pair 2")), db.transaction(depthOf("pair 3"))])).toEqual([1, 1, 1]);
	expect(await texts()).toEqual(["solo", "pair 1", "pair 2", "pair 3"]);
});

test("given a write queued by another write's failure handler, when the drain ends, then it is committed too", async () => {
	const retried = db.transaction(insert("x")).then(
		() => "first",
		() => "never",
	);
	const second = db
		.transaction(async () => {
			throw new Error("refused");
		})
		.catch(() => db.transaction(insert("queued while draining")));
	expect(await retried).toBe("first");
	await second;
	expect(await texts()).toEqual(["x", "queued while draining"]);
});

/** A database of its own with tight bounds, and a write that holds its writer until released. */
async function boundedDb(name: string, options: { maxQueue: number; timeoutMs: number }) {
	const bounded = new Database(`sqlite:${path.join(dir, `${name}.sqlite`)}`, { groupCommit: { maxBatch: 10, ...options } });
	await bounded.open();
	await bounded.transaction((sql) => sql.run('CREATE TABLE notes ("id" INTEGER PRIMARY KEY, "text" TEXT NOT NULL)'));
	let release: () => void = () => undefined;
	const held = new Promise<void>((resolve) => (release = resolve));
	const blocker = bounded.transaction(async (sql) => {
		await insert("blocker")(sql);
		await held;
	});
	const rows = async () =>
		(await bounded.sequelize.query('SELECT "text" FROM notes ORDER BY "id"', { raw: true }))[0].map((row) => (row as { text: string }).text);
	const close = async () => {
		await bounded.close();
		await bounded.sequelize.close();
	};
	return { bounded, blocker, release, rows, close };
}

test("given a full queue, when one more write comes, then it is refused at once with a 503 and writes nothing", async () => {
	const { bounded, blocker, release, rows, close } = await boundedDb("full", { maxQueue: 2, timeoutMs: 5000 });
	// the blocker's batch holds the writer; two more wait in the queue, which is then full
	const queued = [bounded.transaction(insert("q1")), bounded.transaction(insert("q2"))];
	const refused = bounded.transaction(insert("q3"));
	await expect(refused).rejects.toBeInstanceOf(DatabaseBusyError);
	await expect(refused).rejects.toMatchObject({ code: 503 });
	release();
	await Promise.all([blocker, ...queued]);
	expect(await rows()).toEqual(["blocker", "q1", "q2"]);
	await close();
});

test("given a write that waits longer than its bound for its turn, then it is refused with a 503 and writes nothing", async () => {
	const { bounded, blocker, release, rows, close } = await boundedDb("slow", { maxQueue: 10, timeoutMs: 100 });
	const late = bounded.transaction(insert("late"));
	await expect(late).rejects.toBeInstanceOf(DatabaseBusyError);
	release();
	await blocker;
	expect(await rows()).toEqual(["blocker"]);
	await close();
});
