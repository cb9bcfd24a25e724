/**
 * 2. Catch-up: the goal service was down while the client service made N changes (creates of a
 * few thousand clients, then mostly renames of them); then the goal service starts and catches
 * up from the client service's log. Measured from the goal service's start to its checkpoint
 * reaching the producer's last sequence.
 *
 * Floor, in the same run: the bare `sqlite3` library reading the same N events from a log table in
 * pages of 500 and applying them to a copy with version-guarded statements
 * (`UPDATE client_copy SET name=?, email=?, version=? WHERE id=? AND version < ?`, the goals'
 * clientName when the name changed, the checkpoint), one transaction per page (WAL,
 * synchronous=FULL). Target: ratio >= 0.5.
 *
 * `--smoke` or BENCH_SMOKE=1: a few hundred changes.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import sqlite3 from "sqlite3";
import { lastSequenceOf } from "../test/helpers/sqlite";
import { removeDir, startSystem, tempDataDir, type TestSystem } from "../test/helpers/system";
import { waitFor } from "../test/helpers/wait";
import { exitCodeFor, loud, printResults, progress, type Result, size, SMOKE, throughputResult } from "./lib";

const CHANGES = size(20_000, 300);
const CLIENTS = size(2_000, 100);
const WRITE_CONCURRENCY = 20;
const PAGE = 500;

interface Change {
	type: "CREATED" | "UPDATED";
	id: number;
	name: string;
	email: string;
	version: number;
}

interface ClientAnswer {
	id: number;
	name: string;
	email: string;
	version: number;
}

// ---------------------------------------------------------------------------------------------
// a little promise layer over sqlite3

function open(file: string, mode = sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE): Promise<sqlite3.Database> {
	return new Promise((resolve, reject) => {
		const db = new sqlite3.Database(file, mode, (err) => (err ? reject(err) : resolve(db)));
	});
}
const exec = (db: sqlite3.Database, sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
const run = (statement: sqlite3.Statement, params: unknown[]) =>
	new Promise<number>((resolve, reject) =>
		statement.run(params, function (this: sqlite3.RunResult, err: Error | null) {
			if (err) reject(err);
			else resolve(this.changes);
		}),
	);
const all = <T>(statement: sqlite3.Statement, params: unknown[]) =>
	new Promise<T[]>((resolve, reject) => statement.all(params, (err: Error | null, rows: T[]) => (err ? reject(err) : resolve(rows))));
const close = (db: sqlite3.Database) => new Promise<void>((resolve) => db.close(() => resolve()));

// ---------------------------------------------------------------------------------------------

/** The changes, made through the broker with WRITE_CONCURRENCY calls in flight. */
async function writeChanges(system: TestSystem): Promise<{ changes: Change[]; seconds: number }> {
	const changes: Change[] = [];
	const started = performance.now();
	let done = 0;
	const tick = () => {
		if (++done % Math.max(100, Math.floor(CHANGES / 20)) === 0) {
			const perSecond = done / ((performance.now() - started) / 1000);
			progress(`${done}/${CHANGES} changes written (${perSecond.toFixed(0)}/s)`);
		}
	};
	const pool = async (count: number, op: (i: number) => Promise<void>) => {
		let next = 0;
		await Promise.all(
			Array.from({ length: WRITE_CONCURRENCY }, async () => {
				while (next < count) await op(next++);
			}),
		);
	};
	const ids: number[] = [];
	await pool(CLIENTS, async (i) => {
		const c: ClientAnswer = await system.broker.call("clients.create", { name: `Client ${i}`, email: `client${i}@bench.test` });
		ids.push(c.id);
		changes.push({ type: "CREATED", id: c.id, name: c.name, email: c.email, version: c.version });
		tick();
	});
	// renames round-robin: WRITE_CONCURRENCY (< CLIENTS) calls in flight never touch the same client
	await pool(CHANGES - CLIENTS, async (j) => {
		const c: ClientAnswer = await system.broker.call("clients.update", { id: ids[j % ids.length], name: `Client ${ids[j % ids.length]} r${j}` });
		changes.push({ type: "UPDATED", id: c.id, name: c.name, email: c.email, version: c.version });
		tick();
	});
	return { changes, seconds: (performance.now() - started) / 1000 };
}

/** The goal service's checkpoint for the clients log, read on one connection of our own (cheap to poll). */
function checkpointReader(file: string) {
	let db: sqlite3.Database | undefined;
	return {
		async read(): Promise<number> {
			if (!db) {
				if (!existsSync(file)) return 0;
				db = await open(file, sqlite3.OPEN_READWRITE);
			}
			const connection = db;
			return new Promise<number>((resolve) =>
				connection.get("SELECT sequence FROM checkpoints WHERE producer = 'clients'", (err: Error | null, row?: { sequence: number }) =>
					resolve(err || !row ? 0 : Number(row.sequence)),
				),
			);
		},
		close: () => (db ? close(db) : Promise.resolve()),
	};
}

/** The floor: the same events, read in pages of PAGE from a log and applied with the bare library. */
async function floor(dir: string, changes: Change[]): Promise<number> {
	const source = await open(path.join(dir, "floor-log.sqlite"));
	const copy = await open(path.join(dir, "floor-copy.sqlite"));
	await exec(
		source,
		`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
		 CREATE TABLE event_log (sequence INTEGER PRIMARY KEY AUTOINCREMENT, eventId TEXT NOT NULL, eventType TEXT NOT NULL,
		   entityId INTEGER NOT NULL, version INTEGER NOT NULL, payload TEXT NOT NULL, timestamp TEXT NOT NULL);`,
	);
	await exec(
		copy,
		`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
		 CREATE TABLE client_copy (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, version INTEGER NOT NULL, deleted INTEGER NOT NULL);
		 CREATE TABLE goals (id INTEGER PRIMARY KEY AUTOINCREMENT, clientId INTEGER NOT NULL, clientName TEXT NOT NULL, deletedAt TEXT);
		 CREATE INDEX goals_client ON goals (clientId);
		 CREATE TABLE checkpoints (producer TEXT PRIMARY KEY, sequence INTEGER NOT NULL);
		 INSERT INTO checkpoints VALUES ('clients', 0);`,
	);
	// the log (not timed)
	const append = source.prepare("INSERT INTO event_log (eventId, eventType, entityId, version, payload, timestamp) VALUES (?, ?, ?, ?, ?, ?)");
	await exec(source, "BEGIN");
	for (const [i, c] of changes.entries()) {
		const payload = JSON.stringify({ clientId: c.id, clientName: c.name, clientEmail: c.email });
		await run(append, [`e${i}`, c.type, c.id, c.version, payload, new Date().toISOString()]);
	}
	await exec(source, "COMMIT");

	const readPage = source.prepare("SELECT sequence, eventType, version, payload FROM event_log WHERE sequence > ? ORDER BY sequence LIMIT ?");
	const upsert = copy.prepare(
		`INSERT INTO client_copy (id, name, email, version, deleted) VALUES (?, ?, ?, ?, 0)
		 ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, version = excluded.version WHERE excluded.version > client_copy.version`,
	);
	const update = copy.prepare("UPDATE client_copy SET name = ?, email = ?, version = ? WHERE id = ? AND version < ?");
	const rename = copy.prepare("UPDATE goals SET clientName = ? WHERE clientId = ? AND deletedAt IS NULL");
	const checkpoint = copy.prepare("UPDATE checkpoints SET sequence = ? WHERE producer = 'clients'");

	const started = performance.now();
	let after = 0;
	for (;;) {
		const page = await all<{ sequence: number; eventType: string; version: number; payload: string }>(readPage, [after, PAGE]);
		if (page.length === 0) break;
		await exec(copy, "BEGIN IMMEDIATE");
		for (const row of page) {
			const e = JSON.parse(row.payload) as { clientId: number; clientName: string; clientEmail: string };
			const changed =
				row.eventType === "CREATED"
					? await run(upsert, [e.clientId, e.clientName, e.clientEmail, row.version])
					: await run(update, [e.clientName, e.clientEmail, row.version, e.clientId, row.version]);
			if (changed > 0) await run(rename, [e.clientName, e.clientId]);
		}
		after = page[page.length - 1].sequence;
		await run(checkpoint, [after]);
		await exec(copy, "COMMIT");
		if (page.length < PAGE) break;
	}
	const ms = performance.now() - started;
	for (const statement of [append, readPage, upsert, update, rename, checkpoint]) statement.finalize();
	await Promise.all([close(source), close(copy)]);
	return ms;
}

async function main(): Promise<void> {
	const dataDir = tempDataDir();
	const results: Result[] = [];
	const notes: string[] = [];
	try {
		progress(`writing ${CHANGES} client changes (${CLIENTS} creates, then renames) with the goal service down${SMOKE ? " — smoke mode" : ""}`);
		// LOG_LEVEL error: without the goal service the clients node warns at each periodic catch-up
		const producer = await startSystem({ dataDir, env: { SERVICES: "clients", LOG_LEVEL: "error" } });
		let written: { changes: Change[]; seconds: number };
		try {
			written = await writeChanges(producer);
		} finally {
			await producer.stop();
		}
		const last = await lastSequenceOf(dataDir, "clients");
		notes.push(`written through the broker at ${(CHANGES / written.seconds).toFixed(0)} changes/s (${WRITE_CONCURRENCY} calls in flight; not a target)`);
		if (last < CHANGES) throw new Error(`the client log ends at sequence ${last}, expected at least ${CHANGES}`);

		progress(`floor: sqlite3 applies the same ${CHANGES} events in transactions of ${PAGE}`);
		const floorMs = await floor(dataDir, written.changes);
		progress(`floor: ${floorMs.toFixed(0)} ms`);

		// the goal service was there before it went down: it has a checkpoint (at 0), so it catches up
		// from the log (with none it would start from the snapshot: bench/bootstrap.ts)
		const goalsDb = await open(path.join(dataDir, "goals.sqlite"));
		await exec(
			goalsDb,
			`CREATE TABLE checkpoints (producer VARCHAR(32) PRIMARY KEY, sequence INTEGER NOT NULL DEFAULT 0); INSERT INTO checkpoints VALUES ('clients', 0);`,
		);
		await close(goalsDb);

		progress(`starting clients + goals: catch-up to sequence ${last}`);
		const reader = checkpointReader(path.join(dataDir, "goals.sqlite"));
		const t0 = performance.now();
		const system = await startSystem({ dataDir, env: { SERVICES: "clients,goals" } });
		let catchUpMs: number;
		try {
			let lastReport = performance.now();
			await waitFor(
				async () => {
					const cp = await reader.read();
					if (performance.now() - lastReport > 2000) {
						lastReport = performance.now();
						progress(`catch-up: checkpoint ${cp}/${last} after ${((lastReport - t0) / 1000).toFixed(1)} s`);
					}
					return cp >= last;
				},
				{ timeoutMs: 30 * 60_000, intervalMs: 20, what: "the goal service to catch up" },
			);
			catchUpMs = performance.now() - t0;
		} finally {
			await reader.close();
			await system.stop();
		}
		progress(`catch-up: ${catchUpMs.toFixed(0)} ms`);

		const eventsPerSecond = (ms: number) => CHANGES / (ms / 1000);
		const text = (ms: number) => `${eventsPerSecond(ms).toFixed(0)} events/s (${(ms / 1000).toFixed(2)} s)`;
		results.push(
			throughputResult(
				`catch-up of ${CHANGES} client events`,
				{ value: eventsPerSecond(catchUpMs), text: text(catchUpMs) },
				{ value: eventsPerSecond(floorMs), text: text(floorMs) },
				0.5,
			),
		);
		notes.push("figure: from the start of the goal service's node to its checkpoint reaching the client log's last sequence");
		notes.push(
			`floor: the bare sqlite3 library reading the same events in pages of ${PAGE} and applying them with version-guarded statements, one transaction per page (WAL, synchronous=FULL)`,
		);
	} catch (err) {
		loud(`bench/catch-up.ts failed: ${(err as Error).stack ?? err}`);
		process.exitCode = 1;
	} finally {
		removeDir(dataDir);
	}
	if (results.length === 0) return;
	printResults("Catch-up of a goal service that was down (one process, SQLite)", results, notes);
	if (process.exitCode !== 1) process.exitCode = exitCodeFor(results);
}

void main();
