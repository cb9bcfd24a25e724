/**
 * 3. Bootstrap: a goal service with no copy of the clients joins a client service whose log holds
 * ENTITIES clients in EVENTS events (a create and renames each, every tenth deleted). Measured in
 * the same run, each from the start of the goal service's node (SQLite, one process, the client
 * service beside it) to its checkpoint at the log's head:
 * - from the snapshot: each client's last event, read a page of 1,000 at a time (no checkpoint);
 * - by full replay: every event of the log, 500 a page (a checkpoint at 0, as a consumer present
 *   from the start would have).
 *
 * Floor, in the same run: the bare `sqlite3` library making the same copy, reading the same
 * snapshot query from the client log in pages of 1,000 and inserting the rows with a
 * version-guarded multi-row upsert (100 rows a statement), one transaction per page, the
 * checkpoint in the last (WAL, synchronous=FULL). Target: ratio >= 0.5 for the bootstrap from the snapshot.
 *
 * The log is filled with multi-row INSERTs straight into the client service's SQLite file (what
 * its writes would have stored), not through REST: 300,000 events in a few seconds.
 * `--smoke` or BENCH_SMOKE=1: 2,000 clients.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import sqlite3 from "sqlite3";
import type { SnapshotProgress } from "../lib/consumer/engine";
import { clientHistory, insertRows } from "../test/helpers/client-log";
import { removeDir, startSystem, tempDataDir } from "../test/helpers/system";
import { waitFor } from "../test/helpers/wait";
import { exitCodeFor, loud, printResults, progress, type Result, size, SMOKE, throughputResult } from "./lib";

const ENTITIES = size(100_000, 2_000);
const EVENTS_EACH = 3;
const EVENTS = ENTITIES * EVENTS_EACH;
const PAGE = 1000;

// ---------------------------------------------------------------------------------------------
// a little promise layer over sqlite3

function open(file: string, mode = sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE): Promise<sqlite3.Database> {
	return new Promise((resolve, reject) => {
		const db = new sqlite3.Database(file, mode, (err) => (err ? reject(err) : resolve(db)));
	});
}
const exec = (db: sqlite3.Database, sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
const run = (db: sqlite3.Database, sql: string, params: unknown[]) =>
	new Promise<void>((resolve, reject) => db.run(sql, params, (err: Error | null) => (err ? reject(err) : resolve())));
const all = <T>(db: sqlite3.Database, sql: string, params: unknown[]) =>
	new Promise<T[]>((resolve, reject) => db.all(sql, params, (err: Error | null, rows: T[]) => (err ? reject(err) : resolve(rows))));
const close = (db: sqlite3.Database) => new Promise<void>((resolve) => db.close(() => resolve()));

// ---------------------------------------------------------------------------------------------

/** The client service's database with its schema (made by the service itself), then the history inserted. */
async function fill(dataDir: string): Promise<void> {
	const producer = await startSystem({ dataDir, env: { SERVICES: "clients", LOG_LEVEL: "error" } });
	await producer.stop();
	const history = clientHistory(ENTITIES, EVENTS_EACH, 10, "bench");
	const db = await open(path.join(dataDir, "clients.sqlite"));
	const started = performance.now();
	let lastReport = started;
	try {
		await exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; BEGIN");
		await insertRows((text, params) => run(db, text, params), "event_log", history.events, {
			chunk: 500,
			onChunk: (done) => {
				if (performance.now() - lastReport > 1000 || done === EVENTS) {
					lastReport = performance.now();
					progress(`filling the client log: ${done.toLocaleString("en-US")} / ${EVENTS.toLocaleString("en-US")} events`);
				}
			},
		});
		const now = new Date().toISOString().replace("T", " ").replace("Z", " +00:00");
		await insertRows((text, params) => run(db, text, params), "clients", history.clients, { chunk: 500, extra: { createdAt: now, updatedAt: now } });
		await exec(db, "COMMIT");
	} finally {
		await close(db);
	}
	progress(
		`filled ${EVENTS.toLocaleString("en-US")} events of ${ENTITIES.toLocaleString("en-US")} clients in ${((performance.now() - started) / 1000).toFixed(1)} s`,
	);
}

/** The goal service's checkpoint for the clients log, read on a connection of our own (null: none yet). */
async function checkpointIn(file: string): Promise<number | null> {
	if (!existsSync(file)) return null;
	const db = await open(file, sqlite3.OPEN_READONLY);
	try {
		const rows = await all<{ sequence: number }>(db, "SELECT sequence FROM checkpoints WHERE producer = 'clients'", []).catch(() => []);
		return rows.length > 0 ? Number(rows[0].sequence) : null;
	} finally {
		await close(db);
	}
}

/**
 * Start clients + goals with the goal service's database at `goalsFile` and wait for its checkpoint at `head`.
 * `replay`: the database is given a checkpoint at 0 first, so the goal service follows the whole log.
 */
async function bootstrap(
	dataDir: string,
	goalsFile: string,
	head: number,
	replay: boolean,
): Promise<{ ms: number; copied: number; tombstones: number; line: string }> {
	if (replay) {
		const db = await open(goalsFile);
		await exec(
			db,
			`CREATE TABLE checkpoints (producer VARCHAR(32) PRIMARY KEY, sequence INTEGER NOT NULL DEFAULT 0);
			 INSERT INTO checkpoints VALUES ('clients', 0);`,
		);
		await close(db);
	}
	const started = performance.now();
	const system = await startSystem({
		dataDir,
		env: {
			SERVICES: "clients,goals",
			LOG_LEVEL: "warn",
			CLIENTS_DB_URI: `sqlite:${path.join(dataDir, "clients.sqlite")}`,
			GOALS_DB_URI: `sqlite:${goalsFile}`,
		},
	});
	try {
		let lastReport = performance.now();
		await waitFor(
			async () => {
				const checkpoint = await checkpointIn(goalsFile);
				if (performance.now() - lastReport > 2000) {
					lastReport = performance.now();
					const state = replay ? null : await system.broker.call<SnapshotProgress | null, unknown>("goals.rebuildState", {});
					progress(state?.line || `replay: checkpoint ${checkpoint ?? 0} / ${head} after ${((lastReport - started) / 1000).toFixed(1)} s`);
				}
				return checkpoint === head;
			},
			{ timeoutMs: 10 * 60_000, intervalMs: 20, what: "the goal service's checkpoint at the head of the client log" },
		);
		const ms = performance.now() - started;
		// the node's own last line: the bootstrap's time without the node's start
		const line = replay ? "" : ((await system.broker.call<SnapshotProgress | null, unknown>("goals.rebuildState", {}))?.line ?? "");
		const db = await open(goalsFile, sqlite3.OPEN_READONLY);
		try {
			const [counts] = await all<{ copied: number; tombstones: number }>(
				db,
				"SELECT COUNT(*) AS copied, SUM(deleted) AS tombstones FROM client_projection",
				[],
			);
			return { ms, copied: Number(counts.copied), tombstones: Number(counts.tombstones), line };
		} finally {
			await close(db);
		}
	} finally {
		await system.stop();
	}
}

/** The floor: the same copy by the bare library, from the same snapshot query, a page per transaction. */
async function floor(dataDir: string, head: number): Promise<{ ms: number; copied: number }> {
	const source = await open(path.join(dataDir, "clients.sqlite"), sqlite3.OPEN_READONLY);
	const copy = await open(path.join(dataDir, "floor-copy.sqlite"));
	await exec(
		copy,
		`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
		 CREATE TABLE client_copy (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, version INTEGER NOT NULL, deleted INTEGER NOT NULL);
		 CREATE TABLE checkpoints (producer TEXT PRIMARY KEY, sequence INTEGER NOT NULL);`,
	);
	const snapshotPage = `SELECT e.* FROM event_log e
		WHERE e."entityId" > ? AND e."sequence" <= ? AND NOT EXISTS (
		  SELECT 1 FROM event_log later WHERE later."entityId" = e."entityId" AND later."sequence" > e."sequence" AND later."sequence" <= ?
		) ORDER BY e."entityId" LIMIT ?`;
	// multi-row statements, as the project's own copy does: the bare library at its best
	const upsert = (rows: number) =>
		`INSERT INTO client_copy (id, name, email, version, deleted) VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?, ?)").join(", ")}
		 ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, version = excluded.version, deleted = excluded.deleted
		 WHERE client_copy.version < excluded.version AND NOT client_copy.deleted`;
	const started = performance.now();
	let after = 0;
	let copied = 0;
	for (;;) {
		const rows = await all<{ entityId: number; version: number; eventType: string; payload: string }>(source, snapshotPage, [after, head, head, PAGE]);
		await exec(copy, "BEGIN IMMEDIATE");
		for (let i = 0; i < rows.length; i += 100) {
			const part = rows.slice(i, i + 100);
			const params = part.flatMap((row) => {
				const e = JSON.parse(row.payload) as { clientName: string; clientEmail: string };
				return [row.entityId, e.clientName, e.clientEmail, row.version, row.eventType === "DELETED" ? 1 : 0];
			});
			await run(copy, upsert(part.length), params);
		}
		copied += rows.length;
		const last = rows.length < PAGE;
		if (last) await run(copy, "INSERT INTO checkpoints VALUES ('clients', ?)", [head]);
		await exec(copy, "COMMIT");
		if (last) break;
		after = rows[rows.length - 1].entityId;
	}
	const ms = performance.now() - started;
	await Promise.all([close(source), close(copy)]);
	return { ms, copied };
}

async function main(): Promise<void> {
	const dataDir = tempDataDir();
	const results: Result[] = [];
	const notes: string[] = [];
	try {
		progress(`filling a client log of ${ENTITIES.toLocaleString("en-US")} clients, ${EVENTS.toLocaleString("en-US")} events${SMOKE ? " — smoke mode" : ""}`);
		await fill(dataDir);
		const head = EVENTS;

		progress("floor: sqlite3 copies the snapshot (the same query, pages of 1,000)");
		const bare = await floor(dataDir, head);
		progress(`floor: ${bare.ms.toFixed(0)} ms for ${bare.copied} clients`);

		progress("goal service with no checkpoint: bootstrap from the snapshot");
		const snap = await bootstrap(dataDir, path.join(dataDir, "goals-snapshot.sqlite"), head, false);
		progress(`snapshot: ${snap.ms.toFixed(0)} ms`);

		progress("goal service with a checkpoint at 0: replay of the whole log");
		const replay = await bootstrap(dataDir, path.join(dataDir, "goals-replay.sqlite"), head, true);
		progress(`replay: ${replay.ms.toFixed(0)} ms`);

		const tombstones = Math.floor(ENTITIES / 10);
		for (const [what, copy] of [
			["snapshot", snap],
			["replay", replay],
		] as const) {
			if (copy.copied !== ENTITIES || copy.tombstones !== tombstones) {
				throw new Error(`the ${what} copy holds ${copy.copied} clients (${copy.tombstones} tombstones), expected ${ENTITIES} (${tombstones})`);
			}
		}
		if (bare.copied !== ENTITIES) throw new Error(`the floor copied ${bare.copied} clients, expected ${ENTITIES}`);

		const perSecond = (ms: number) => ENTITIES / (ms / 1000);
		const text = (ms: number) => `${perSecond(ms).toFixed(0)} clients/s (${(ms / 1000).toFixed(2)} s)`;
		const floorRate = { value: perSecond(bare.ms), text: text(bare.ms) };
		results.push(
			throughputResult(
				`bootstrap of ${ENTITIES.toLocaleString("en-US")} clients from the snapshot (log of ${EVENTS.toLocaleString("en-US")} events)`,
				{ value: perSecond(snap.ms), text: text(snap.ms) },
				floorRate,
				0.5,
			),
			throughputResult(
				`the same by full replay of the ${EVENTS.toLocaleString("en-US")} events`,
				{ value: perSecond(replay.ms), text: `${text(replay.ms)}, ${(EVENTS / (replay.ms / 1000)).toFixed(0)} events/s` },
				floorRate,
				0.5,
			),
		);
		notes.push(
			`snapshot ÷ replay: the snapshot bootstrap took ${(snap.ms / replay.ms).toFixed(2)} of the replay's time (${(replay.ms / snap.ms).toFixed(1)}× faster)`,
		);
		notes.push(`the goal service's own line: ${snap.line}`);
		notes.push("figures: from the start of the goal service's node (clients and goals in one process) to its checkpoint at the client log's head");
		notes.push(
			"floor: the bare sqlite3 library reading the same snapshot query in pages of 1,000 and upserting the rows (version-guarded, 100 a statement), one transaction per page (WAL, synchronous=FULL)",
		);
	} catch (err) {
		loud(`bench/bootstrap.ts failed: ${(err as Error).stack ?? err}`);
		process.exitCode = 1;
	} finally {
		removeDir(dataDir);
	}
	if (results.length === 0) return;
	printResults("Bootstrap of a new goal service: snapshot against full replay (one process, SQLite)", results, notes);
	if (process.exitCode !== 1) process.exitCode = exitCodeFor(results);
}

void main();
