/**
 * The peer in one process, as a user would write the embedded case: moleculer-web, a client
 * service on `sqlite3` whose `get` is a cached action (MemoryLRU cacher) and whose `create`
 * commits the client with its event-log row, then emits `client.created`; a goal service that
 * keeps its copy of clients (its own SQLite file) from those events, newer versions only. No
 * transporter. Forked by the benchmark with a data folder; sends `{ port }` once listening and
 * stops on "stop".
 */
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import path from "node:path";
import { type Context, Errors, type ServiceSchema, ServiceBroker } from "moleculer";
import ApiGateway, { type ApiSettingsSchema } from "moleculer-web";
import sqlite3 from "sqlite3";

interface ClientRow {
	id: number;
	name: string;
	email: string;
	version: number;
	createdAt: string;
	updatedAt: string;
}

interface ClientCreated {
	clientId: number;
	clientName: string;
	version: number;
}

/** One `sqlite3` connection whose transactions run one after another (they share the connection). */
class SqliteFile {
	private tail: Promise<unknown> = Promise.resolve();

	private constructor(private readonly db: sqlite3.Database) {}

	static async open(file: string, schema: string): Promise<SqliteFile> {
		const db = await new Promise<sqlite3.Database>((resolve, reject) => {
			const opened = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(opened)));
		});
		const sqlite = new SqliteFile(db);
		await sqlite.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; ${schema}`);
		return sqlite;
	}

	exec(sql: string): Promise<void> {
		return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
	}

	run(sql: string, params: unknown[]): Promise<sqlite3.RunResult> {
		return new Promise((resolve, reject) =>
			this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
				if (err) reject(err);
				else resolve(this);
			}),
		);
	}

	get<T>(sql: string, params: unknown[]): Promise<T | undefined> {
		return new Promise((resolve, reject) => this.db.get<T>(sql, params, (err, row) => (err ? reject(err) : resolve(row))));
	}

	/** `work` between BEGIN IMMEDIATE and COMMIT, after every transaction queued before it. */
	transaction<T>(work: () => Promise<T>): Promise<T> {
		const result = this.tail.then(async () => {
			await this.exec("BEGIN IMMEDIATE");
			try {
				const value = await work();
				await this.exec("COMMIT");
				return value;
			} catch (err) {
				await this.exec("ROLLBACK").catch(() => undefined);
				throw err;
			}
		});
		this.tail = result.catch(() => undefined);
		return result;
	}

	close(): Promise<void> {
		return new Promise((resolve) => this.db.close(() => resolve()));
	}
}

function clientsService(db: SqliteFile): ServiceSchema {
	return {
		name: "clients",
		actions: {
			create: {
				params: { name: { type: "string", trim: true, min: 1, max: 100 }, email: { type: "email", max: 254 }, $$strict: true },
				async handler(ctx: Context<{ name: string; email: string }, { $statusCode?: number }>) {
					const now = new Date().toISOString();
					const { name, email } = ctx.params;
					const [row, event] = await db
						.transaction(async () => {
							const { lastID: id } = await db.run("INSERT INTO clients (name, email, version, createdAt, updatedAt) VALUES (?, ?, 1, ?, ?)", [
								name,
								email,
								now,
								now,
							]);
							const event = {
								eventId: randomUUID(),
								eventType: "CREATED",
								source: "clients",
								timestamp: now,
								version: 1,
								clientId: id,
								clientName: name,
								clientEmail: email,
							};
							const logged = await db.run("INSERT INTO client_events (eventId, eventType, clientId, version, payload) VALUES (?, ?, ?, 1, ?)", [
								event.eventId,
								event.eventType,
								id,
								JSON.stringify(event),
							]);
							return [
								{ id, name, email, version: 1, createdAt: now, updatedAt: now },
								{ ...event, sequence: logged.lastID },
							] as const;
						})
						.catch((err: Error) => {
							if (/UNIQUE/.test(err.message)) throw new Errors.MoleculerClientError("Email taken", 409, "CONFLICT");
							throw err;
						});
					await ctx.emit("client.created", event);
					ctx.meta.$statusCode = 201;
					return { ...row, goals: [] };
				},
			},
			get: {
				cache: { keys: ["id"] },
				params: { id: { type: "number", integer: true, positive: true, convert: true } },
				async handler(ctx: Context<{ id: number }>) {
					const row = await db.get<ClientRow>("SELECT * FROM clients WHERE id = ?", [ctx.params.id]);
					if (!row) throw new Errors.MoleculerClientError(`Client ${ctx.params.id} not found`, 404, "NOT_FOUND");
					return { ...row, goals: [] };
				},
			},
		},
	};
}

function goalsService(db: SqliteFile): ServiceSchema {
	return {
		name: "goals",
		events: {
			"client.created": {
				async handler(ctx: Context<ClientCreated>) {
					const e = ctx.params;
					await db.transaction(() =>
						db.run(
							`INSERT INTO clients_copy (id, name, version) VALUES (?, ?, ?)
							 ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version WHERE clients_copy.version < excluded.version`,
							[e.clientId, e.clientName, e.version],
						),
					);
				},
			},
		},
	};
}

function apiService(): ServiceSchema<ApiSettingsSchema> {
	return {
		name: "api",
		mixins: [ApiGateway],
		settings: {
			port: 0,
			ip: "127.0.0.1",
			routes: [
				{
					path: "/api",
					mappingPolicy: "restrict",
					bodyParsers: { json: { limit: "100kb" } },
					aliases: { "POST clients": "clients.create", "GET clients/:id": "clients.get" },
				},
			],
		},
	};
}

async function main(dataDir: string): Promise<void> {
	const clientsDb = await SqliteFile.open(
		path.join(dataDir, "peer-clients.sqlite"),
		`CREATE TABLE IF NOT EXISTS clients (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,
		   version INTEGER NOT NULL, createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL);
		 CREATE TABLE IF NOT EXISTS client_events (sequence INTEGER PRIMARY KEY AUTOINCREMENT, eventId TEXT NOT NULL UNIQUE, eventType TEXT NOT NULL,
		   clientId INTEGER NOT NULL, version INTEGER NOT NULL, payload TEXT NOT NULL);`,
	);
	const goalsDb = await SqliteFile.open(
		path.join(dataDir, "peer-goals.sqlite"),
		"CREATE TABLE IF NOT EXISTS clients_copy (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL);",
	);
	const broker = new ServiceBroker({
		logger: { type: "Console", options: { level: "warn" } },
		cacher: { type: "MemoryLRU", options: { max: 10_000, ttl: 60 } },
	});
	broker.createService(clientsService(clientsDb));
	broker.createService(goalsService(goalsDb));
	const api = broker.createService(apiService());
	await broker.start();
	// port 0: the port the OS gave is on moleculer-web's http.Server, which createService's Service type does not show
	const server = (api as unknown as { server: Server }).server;
	const address = server.address();
	process.send?.({ port: typeof address === "object" && address ? address.port : 0 });
	const stop = async () => {
		await broker.stop();
		await Promise.all([clientsDb.close(), goalsDb.close()]);
		process.exit(0);
	};
	process.on("message", (message) => {
		if (message === "stop") void stop();
	});
	process.on("disconnect", () => void stop());
}

main(process.argv[2] ?? ".").catch((err: Error) => {
	console.error(`embedded peer: ${err.stack ?? err.message}`);
	process.exit(1);
});
