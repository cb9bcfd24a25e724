/**
 * The floors' HTTP servers: the same requests answered by node:http and the bare database library,
 * in a process of their own (like the node under test, the load generator is another process).
 * Forked by bench/floors.ts; sends `{ port }` over IPC once listening, stops on "stop".
 *
 *   sqlite <file>   POST /api/clients: one transaction per request on one `sqlite3` connection
 *                   (WAL, synchronous=FULL, BEGIN IMMEDIATE; client row + event row; COMMIT).
 *                   GET  /api/clients/:id: a small fixed JSON.
 *   pg <uri>        `pg` Pool (max 10), one transaction per request:
 *                   POST /api/clients: client row + event row under the event log's advisory lock;
 *                   PUT  /api/clients/:id: update the client (version + 1) + event row, same lock;
 *                   POST /api/goals: check the client row, goal row + event row, same kind of lock.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Pool, type PoolClient } from "pg";
import sqlite3 from "sqlite3";

type Handler = (method: string, url: string, body: unknown) => Promise<{ status: number; body: unknown; location?: string }>;

const notFound = { status: 404, body: { name: "NotFoundError", message: "Not found", code: 404 } };

function serve(handler: Handler): void {
	const server = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (chunk: Buffer) => chunks.push(chunk));
		req.on("end", () => {
			let body: unknown;
			if (chunks.length > 0) {
				try {
					body = JSON.parse(Buffer.concat(chunks).toString());
				} catch {
					res.writeHead(400, { "content-type": "application/json" }).end('{"message":"malformed JSON"}');
					return;
				}
			}
			handler(req.method ?? "GET", req.url ?? "/", body).then(
				(answer) => {
					const text = JSON.stringify(answer.body);
					const headers: Record<string, string | number> = { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) };
					if (answer.location) headers.location = answer.location;
					res.writeHead(answer.status, headers).end(text);
				},
				(err: Error) => {
					res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message: err.message }));
				},
			);
		});
	});
	server.keepAliveTimeout = 65_000;
	server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as AddressInfo).port }));
	process.on("message", (message) => {
		if (message === "stop") server.close(() => process.exit(0));
	});
	process.on("disconnect", () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// SQLite

function promisified(db: sqlite3.Database) {
	return {
		exec: (sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve()))),
		run: (statement: sqlite3.Statement, params: unknown[]) =>
			new Promise<sqlite3.RunResult>((resolve, reject) =>
				statement.run(params, function (this: sqlite3.RunResult, err: Error | null) {
					if (err) reject(err);
					else resolve(this);
				}),
			),
	};
}

const SQLITE_FLOOR_SCHEMA = `
	PRAGMA journal_mode=WAL;
	PRAGMA synchronous=FULL;
	CREATE TABLE IF NOT EXISTS clients (
		id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL, emailKey TEXT UNIQUE,
		version INTEGER NOT NULL, createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL, deletedAt TEXT);
	CREATE TABLE IF NOT EXISTS event_log (
		sequence INTEGER PRIMARY KEY AUTOINCREMENT, eventId TEXT NOT NULL UNIQUE, eventType TEXT NOT NULL,
		entityId INTEGER NOT NULL, version INTEGER NOT NULL, payload TEXT NOT NULL, timestamp TEXT NOT NULL,
		UNIQUE (entityId, version));
`;

async function sqliteFloor(file: string): Promise<void> {
	const db = await new Promise<sqlite3.Database>((resolve, reject) => {
		const connection = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(connection)));
	});
	const q = promisified(db);
	await q.exec(SQLITE_FLOOR_SCHEMA);
	const insertClient = db.prepare("INSERT INTO clients (name, email, emailKey, version, createdAt, updatedAt) VALUES (?, ?, ?, 1, ?, ?)");
	const insertEvent = db.prepare("INSERT INTO event_log (eventId, eventType, entityId, version, payload, timestamp) VALUES (?, ?, ?, ?, ?, ?)");
	// one connection: its transactions one after the other
	let tail: Promise<unknown> = Promise.resolve();
	const serialised = <T>(work: () => Promise<T>): Promise<T> => {
		const result = tail.then(work);
		tail = result.catch(() => undefined);
		return result;
	};
	const fixedClient = {
		id: 1,
		name: "Ann Example",
		email: "ann@example.com",
		version: 3,
		createdAt: "2024-01-01T00:00:00.000Z",
		updatedAt: "2024-01-02T00:00:00.000Z",
		goals: [{ id: 1, goalName: "House", targetAmount: 250000.5 }],
	};

	serve(async (method, url, body) => {
		if (method === "GET" && /^\/api\/clients\/\d+$/.test(url)) return { status: 200, body: fixedClient };
		if (method !== "POST" || url !== "/api/clients") return notFound;
		const { name, email } = body as { name: string; email: string };
		return serialised(async () => {
			const now = new Date().toISOString();
			await q.exec("BEGIN IMMEDIATE");
			try {
				const { lastID: id } = await q.run(insertClient, [name, email, email.toLowerCase(), now, now]);
				const payload = JSON.stringify({ clientId: id, clientName: name, clientEmail: email });
				await q.run(insertEvent, [randomUUID(), "CREATED", id, 1, payload, now]);
				await q.exec("COMMIT");
				return { status: 201, body: { id, name, email, version: 1, createdAt: now, updatedAt: now, goals: [] }, location: `/api/clients/${id}` };
			} catch (err) {
				await q.exec("ROLLBACK").catch(() => undefined);
				if (/UNIQUE/.test((err as Error).message)) return { status: 409, body: { message: "email taken" } };
				throw err;
			}
		});
	});
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

const PG_FLOOR_SCHEMA = `
	CREATE TABLE IF NOT EXISTS clients (
		id SERIAL PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(254) NOT NULL, "emailKey" VARCHAR(254) UNIQUE,
		version INTEGER NOT NULL, "createdAt" TIMESTAMPTZ NOT NULL, "updatedAt" TIMESTAMPTZ NOT NULL, "deletedAt" TIMESTAMPTZ);
	CREATE TABLE IF NOT EXISTS client_events (
		sequence SERIAL PRIMARY KEY, "eventId" VARCHAR(36) NOT NULL UNIQUE, "eventType" VARCHAR(16) NOT NULL,
		"entityId" INTEGER NOT NULL, version INTEGER NOT NULL, payload TEXT NOT NULL, timestamp VARCHAR(32) NOT NULL,
		UNIQUE ("entityId", version));
	CREATE TABLE IF NOT EXISTS goals (
		id SERIAL PRIMARY KEY, "clientId" INTEGER NOT NULL, "clientName" VARCHAR(100) NOT NULL, "goalName" VARCHAR(100) NOT NULL,
		"targetCents" BIGINT NOT NULL, version INTEGER NOT NULL, "createdAt" TIMESTAMPTZ NOT NULL, "updatedAt" TIMESTAMPTZ NOT NULL,
		"deletedAt" TIMESTAMPTZ);
	CREATE INDEX IF NOT EXISTS goals_client ON goals ("clientId");
	CREATE TABLE IF NOT EXISTS goal_events (
		sequence SERIAL PRIMARY KEY, "eventId" VARCHAR(36) NOT NULL UNIQUE, "eventType" VARCHAR(16) NOT NULL,
		"entityId" INTEGER NOT NULL, version INTEGER NOT NULL, payload TEXT NOT NULL, timestamp VARCHAR(32) NOT NULL,
		UNIQUE ("entityId", version));
`;

async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
	const client = await pool.connect();
	try {
		await client.query("BEGIN");
		const result = await work(client);
		await client.query("COMMIT");
		return result;
	} catch (err) {
		await client.query("ROLLBACK").catch(() => undefined);
		throw err;
	} finally {
		client.release();
	}
}

class Answer extends Error {
	constructor(readonly answer: { status: number; body: unknown }) {
		super(`answer ${answer.status}`);
	}
}

/** A client row as the REST API shows it. */
function clientOf(row: Record<string, unknown>) {
	return { id: row.id, name: row.name, email: row.email, version: row.version, createdAt: row.createdAt, updatedAt: row.updatedAt, goals: [] };
}

async function appendEvent(
	client: PoolClient,
	table: "client_events" | "goal_events",
	type: string,
	id: number,
	version: number,
	fields: object,
): Promise<void> {
	await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`${table}`]);
	await client.query(`INSERT INTO ${table} ("eventId", "eventType", "entityId", version, payload, timestamp) VALUES ($1, $2, $3, $4, $5, $6)`, [
		randomUUID(),
		type,
		id,
		version,
		JSON.stringify(fields),
		new Date().toISOString(),
	]);
}

async function pgFloor(uri: string): Promise<void> {
	// idle connections go back after 2 s: the bench's clusters share PostgreSQL's 100 connections
	const pool = new Pool({ connectionString: uri, max: 10, idleTimeoutMillis: 2_000 });
	await pool.query(PG_FLOOR_SCHEMA);

	serve(async (method, url, body) => {
		try {
			if (method === "POST" && url === "/api/clients") {
				const { name, email } = body as { name: string; email: string };
				const row = await inTransaction(pool, async (client) => {
					const { rows } = await client.query(
						`INSERT INTO clients (name, email, "emailKey", version, "createdAt", "updatedAt") VALUES ($1, $2, $3, 1, now(), now()) RETURNING *`,
						[name, email, email.toLowerCase()],
					);
					await appendEvent(client, "client_events", "CREATED", rows[0].id, 1, { clientId: rows[0].id, clientName: name, clientEmail: email });
					return rows[0];
				});
				return { status: 201, body: clientOf(row), location: `/api/clients/${row.id}` };
			}
			const put = /^\/api\/clients\/(\d+)$/.exec(url);
			if (method === "PUT" && put) {
				const { name, email } = body as { name?: string; email?: string };
				const row = await inTransaction(pool, async (client) => {
					const { rows } = await client.query(
						`UPDATE clients SET name = COALESCE($2, name), email = COALESCE($3, email), "emailKey" = COALESCE(lower($3), "emailKey"),
						 version = version + 1, "updatedAt" = now() WHERE id = $1 AND "deletedAt" IS NULL RETURNING *`,
						[Number(put[1]), name ?? null, email ?? null],
					);
					if (rows.length === 0) throw new Answer(notFound);
					const r = rows[0];
					await appendEvent(client, "client_events", "UPDATED", r.id, r.version, { clientId: r.id, clientName: r.name, clientEmail: r.email });
					return r;
				});
				return { status: 200, body: clientOf(row) };
			}
			if (method === "POST" && url === "/api/goals") {
				const { clientId, goalName, targetAmount } = body as { clientId: number; goalName: string; targetAmount: number };
				const row = await inTransaction(pool, async (client) => {
					const owner = await client.query(`SELECT name FROM clients WHERE id = $1 AND "deletedAt" IS NULL FOR SHARE`, [clientId]);
					if (owner.rows.length === 0) throw new Answer({ status: 422, body: { message: "no such client", data: [{ field: "clientId" }] } });
					const { rows } = await client.query(
						`INSERT INTO goals ("clientId", "clientName", "goalName", "targetCents", version, "createdAt", "updatedAt")
						 VALUES ($1, $2, $3, $4, 1, now(), now()) RETURNING *`,
						[clientId, owner.rows[0].name, goalName, Math.round(targetAmount * 100)],
					);
					const g = rows[0];
					await appendEvent(client, "goal_events", "CREATED", g.id, 1, { goalId: g.id, clientId, goalName, targetAmount });
					return g;
				});
				return {
					status: 201,
					body: {
						id: row.id,
						clientId: row.clientId,
						clientName: row.clientName,
						goalName: row.goalName,
						targetAmount: Number(row.targetCents) / 100,
						version: row.version,
						createdAt: row.createdAt,
						updatedAt: row.updatedAt,
					},
					location: `/api/goals/${row.id}`,
				};
			}
			return notFound;
		} catch (err) {
			if (err instanceof Answer) return err.answer;
			throw err;
		}
	});
}

if (require.main === module) {
	const [mode, target] = process.argv.slice(2);
	const start = mode === "sqlite" ? sqliteFloor(target) : mode === "pg" ? pgFloor(target) : Promise.reject(new Error(`unknown floor ${mode}`));
	start.catch((err: Error) => {
		console.error(`floor server: ${err.stack ?? err.message}`);
		process.exit(1);
	});
}
