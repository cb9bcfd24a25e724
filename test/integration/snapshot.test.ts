/**
 * Snapshots, bootstraps and rebuilds on real SQLite files and on the real PostgreSQL, one process
 * (issue 12, part 2):
 * - a goal service with no checkpoint starts from the client service's snapshot (each client's
 *   last event, read once) and ends equal to the client service's table, tombstones of clients
 *   deleted before it started included; the same after its checkpoint is removed (a reset); and
 *   with 20,000 clients while 4 writers rename and create clients, every write ends in the copy;
 * - the pages of one snapshot, read while 8 writers append, are exactly the log's state at the
 *   snapshot's sequence (computed from the whole log afterwards, lib/domain/snapshot.ts lastEventsAt);
 * - a rebuild through `POST /api/admin/rebuild/goals` repairs a damaged copy (a changed name, a
 *   lost row, a tombstone brought back to life, a row for a client that never existed) while
 *   GETs keep answering 200 and writes made meanwhile end up in the copy; the client service's
 *   copy of goals (`POST /api/admin/rebuild/clients`) the same way.
 */
import path from "node:path";
import { Client } from "pg";
import { METRICS } from "../../lib/constants";
import type { ClientEvent } from "../../lib/domain/events";
import { lastEventsAt, type SnapshotPage } from "../../lib/domain/snapshot";
import type { Rebuild } from "../../lib/consumer/rebuilds";
import { clientHistory, insertRows } from "../helpers/client-log";
import { request } from "../helpers/http";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { querySqlite, withSqlite } from "../helpers/sqlite";
import { removeDir, startSystem, tempDataDir, type TestSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

const TOKEN = "snapshot-admin-token-of-at-least-32-characters";
const CLIENTS = 300;

interface Store {
	env: Record<string, string>;
	/** multi-row INSERTs of rows into a table (a long history, fast) */
	insert(service: "clients" | "goals", table: string, rows: readonly Record<string, unknown>[], extra?: Record<string, unknown>): Promise<void>;
	/** a time as the dialect's DATE column holds it */
	time(date: Date): unknown;
	query<T extends object>(service: "clients" | "goals", sql: string): Promise<T[]>;
	/** a statement that changes rows, from outside the node (a reset, damage) */
	exec(service: "clients" | "goals", sql: string): Promise<void>;
	tearDown(): Promise<void>;
}

function sqliteStore(): Store {
	const dir = tempDataDir();
	return {
		env: { CLIENTS_DB_URI: `sqlite:${path.join(dir, "clients.sqlite")}`, GOALS_DB_URI: `sqlite:${path.join(dir, "goals.sqlite")}` },
		query: (service, sql) => querySqlite(dir, service, sql),
		exec: (service, sql) => withSqlite(dir, service, async (sequelize) => void (await sequelize.query(sql))),
		insert: (service, table, rows, extra) =>
			withSqlite(dir, service, (sequelize) =>
				insertRows((text, params) => sequelize.query(text, { replacements: params }), table, rows, { chunk: 500, extra }),
			),
		time: (date) => date.toISOString().replace("T", " ").replace("Z", " +00:00"),
		tearDown: async () => removeDir(dir),
	};
}

async function postgresStore(): Promise<Store> {
	const names = { clients: uniqueName("cg_snap_clients"), goals: uniqueName("cg_snap_goals") };
	const uris = { clients: await createDatabase(names.clients), goals: await createDatabase(names.goals) };
	async function query<T extends object>(service: "clients" | "goals", sql: string): Promise<T[]> {
		const client = new Client({ connectionString: uris[service] });
		await client.connect();
		try {
			return (await client.query(sql)).rows as T[];
		} finally {
			await client.end();
		}
	}
	return {
		env: { CLIENTS_DB_URI: uris.clients, GOALS_DB_URI: uris.goals },
		query,
		exec: async (service, sql) => void (await query(service, sql)),
		async insert(service, table, rows, extra) {
			const client = new Client({ connectionString: uris[service] });
			await client.connect();
			try {
				await insertRows((text, params) => client.query(text, params), table, rows, { chunk: 1000, placeholders: "$n", extra });
				if (table === "clients") await client.query(`SELECT setval(pg_get_serial_sequence('clients', 'id'), (SELECT MAX(id) FROM clients))`);
			} finally {
				await client.end();
			}
		},
		time: (date) => date,
		tearDown: async () => {
			await dropDatabase(names.clients);
			await dropDatabase(names.goals);
		},
	};
}

interface ClientRow {
	id: number;
	name: string;
	email: string;
	version: number;
	deleted: boolean;
}

const truthOf = async (store: Store) =>
	(await store.query<ClientRow>("clients", `SELECT id, name, email, version, ("deletedAt" IS NOT NULL) AS deleted FROM clients ORDER BY id`)).map(normal);
const copyOf = async (store: Store) =>
	(await store.query<ClientRow>("goals", `SELECT "clientId" AS id, name, email, version, deleted FROM client_projection ORDER BY "clientId"`)).map(normal);
/** the two dialects' booleans and numbers alike */
const normal = (row: ClientRow): ClientRow => ({
	...row,
	id: Number(row.id),
	version: Number(row.version),
	deleted: Boolean(Number(row.deleted)) || row.deleted === true,
});

async function checkpoint(store: Store): Promise<number | null> {
	const rows = await store.query<{ sequence: number }>("goals", `SELECT sequence FROM checkpoints WHERE producer = 'clients'`);
	return rows.length > 0 ? Number(rows[0].sequence) : null;
}

async function head(store: Store): Promise<number> {
	const [row] = await store.query<{ last: number | null }>("clients", "SELECT MAX(sequence) AS last FROM event_log");
	return Number(row?.last ?? 0);
}

async function counter(system: TestSystem, name: string): Promise<number> {
	const metrics = await system.broker.call<Array<{ name: string; values: Array<{ labels: Record<string, string>; value: number }> }>, unknown>(
		"$node.metrics",
		{ includes: [name] },
	);
	return metrics.find((item) => item.name === name)?.values.find((item) => item.labels.producer === "clients")?.value ?? 0;
}

/** Clients, renamed, some deleted: every kind of last event. */
async function fill(system: TestSystem, prefix: string): Promise<void> {
	let next = 0;
	const created: number[] = [];
	await Promise.all(
		Array.from({ length: 10 }, async () => {
			for (let i = next++; i < CLIENTS; i = next++) {
				const row = await system.broker.call<{ id: number }, unknown>("clients.create", { name: `${prefix} ${i}`, email: `${prefix}.${i}@snap.test` });
				created.push(row.id);
			}
		}),
	);
	created.sort((a, b) => a - b);
	for (const id of created.filter((_, i) => i % 3 === 0)) await system.broker.call("clients.update", { id, name: `${prefix} renamed ${id}` });
	for (const id of created.filter((_, i) => i % 7 === 0)) await system.broker.call("clients.remove", { id });
}

const dialects: Array<[string, () => Promise<Store>, (title: string, body: () => void) => void]> = [
	["SQLite", async () => sqliteStore(), (title, body) => describe(title, body)],
	["PostgreSQL", postgresStore, (title, body) => describeWithInfra(["postgres"], title, body)],
];

for (const [dialect, makeStore, describeOn] of dialects) {
	describeOn(`snapshots on ${dialect}`, () => {
		let store: Store;
		const running: TestSystem[] = [];
		const start = async (env: Record<string, string>) => {
			const system = await startSystem({ env: { ...store.env, LOG_LEVEL: "error", ADMIN_TOKEN: TOKEN, ...env } });
			running.push(system);
			return system;
		};
		const stop = async (system: TestSystem) => {
			await system.stop();
			running.splice(running.indexOf(system), 1);
		};

		beforeAll(async () => {
			store = await makeStore();
		});
		afterAll(async () => {
			for (const system of running) await system.stop();
			await store?.tearDown();
		});

		test("a goal service with no checkpoint starts from the snapshot and ends equal to the clients, deleted ones included; so does one reset", async () => {
			// the client service alone: its log holds every client's history
			const producer = await start({ SERVICES: "clients" });
			await fill(producer, "Boot");
			await stop(producer);
			const last = await head(store);
			const truth = await truthOf(store);
			expect(truth).toHaveLength(CLIENTS);
			expect(truth.filter((row) => row.deleted).length).toBeGreaterThan(40);
			expect(last).toBeGreaterThan(CLIENTS + 100);

			// the goal service joins, with nothing: it reads each client's last event once, not the log
			const first = await start({ SERVICES: "clients,goals" });
			await waitFor(async () => (await checkpoint(store)) === last, { timeoutMs: 60_000, intervalMs: 100, what: "the goals checkpoint at the log's head" });
			expect(await copyOf(store)).toEqual(truth);
			expect(await counter(first, METRICS.snapshotEntities)).toBe(CLIENTS);
			expect(await counter(first, METRICS.catchUpEvents)).toBe(0);
			expect(await counter(first, METRICS.eventsApplied)).toBe(CLIENTS);
			const progress = await first.broker.call<Rebuild | null, unknown>("goals.rebuildState", {});
			expect(progress).toMatchObject({ mode: "bootstrap", state: "done", atSequence: last, entities: CLIENTS, total: CLIENTS, written: CLIENTS });
			await stop(first);

			// reset: the checkpoint removed (and the copy lost with it); started again, the same
			await store.exec("goals", `DELETE FROM checkpoints WHERE producer = 'clients'`);
			await store.exec("goals", "DELETE FROM client_projection");
			const second = await start({ SERVICES: "clients,goals" });
			await waitFor(async () => (await checkpoint(store)) === last, { timeoutMs: 60_000, intervalMs: 100, what: "the goals checkpoint back at the head" });
			expect(await copyOf(store)).toEqual(truth);
			expect(await counter(second, METRICS.snapshotEntities)).toBe(CLIENTS);
			expect(await counter(second, METRICS.catchUpEvents)).toBe(0);
			await stop(second);
		});

		test("a bootstrap of 20,000 clients while clients are renamed and created: every write ends up in the copy", async () => {
			// a store of its own: a long history of ids 1..20,000, written straight into the client database
			const own = await makeStore();
			const mine: TestSystem[] = [];
			try {
				const schema = await startSystem({ env: { ...own.env, SERVICES: "clients", LOG_LEVEL: "error" } });
				await schema.stop();
				const history = clientHistory(20_000, 3, 10, `boot${dialect}`);
				await own.insert("clients", "event_log", history.events);
				const now = own.time(new Date());
				await own.insert("clients", "clients", history.clients, { createdAt: now, updatedAt: now });

				const system = await startSystem({ env: { ...own.env, SERVICES: "clients,goals", LOG_LEVEL: "error" } });
				mine.push(system);
				let writing = true;
				let writes = 0;
				const writers = Array.from({ length: 4 }, async (_, w) => {
					for (let i = 0; writing; i++) {
						if (i % 4 === 3) await system.broker.call("clients.create", { name: `During ${w}-${i}`, email: `during.${w}.${i}@snap.test` });
						else {
							// every tenth client is deleted in the history: its neighbour below is alive
							const n = ((w * 4999 + i * 37) % 20_000) + 1;
							await system.broker.call("clients.update", { id: n % 10 === 0 ? n - 1 : n, name: `Renamed ${w}-${i}` });
						}
						writes++;
					}
				});
				const boot = await waitFor(
					async () => {
						const state = await system.broker.call<Rebuild | null, unknown>("goals.rebuildState", {});
						return state?.mode === "bootstrap" && state.state !== "running" ? { ...state, writes } : null;
					},
					{ timeoutMs: 60_000, intervalMs: 50, what: "the bootstrap to end" },
				);
				await waitFor(() => writes >= boot.writes + 20, { timeoutMs: 20_000, what: "writes after the bootstrap" });
				writing = false;
				await Promise.all(writers);
				expect(boot).toMatchObject({ state: "done", error: null });
				expect(boot.entities).toBeGreaterThanOrEqual(20_000);
				// writes went on while it ran: it applied the snapshot beside them
				expect(boot.writes).toBeGreaterThan(0);
				await waitFor(async () => JSON.stringify(await copyOf(own)) === JSON.stringify(await truthOf(own)), {
					timeoutMs: 60_000,
					intervalMs: 200,
					what: "the copy equal to the clients after the bootstrap",
				});
				expect((await copyOf(own)).length).toBeGreaterThan(20_000);
			} finally {
				for (const system of mine) await system.stop();
				await own.tearDown();
			}
		});

		test("the pages of one snapshot, read while writers append, are exactly the log's state at its sequence", async () => {
			const system = await start({ SERVICES: "clients,goals" });
			let writing = true;
			let writes = 0;
			const ids = (await truthOf(store)).filter((row) => !row.deleted).map((row) => row.id);
			const writers = Array.from({ length: 8 }, async (_, w) => {
				for (let i = 0; writing; i++) {
					const id = ids[(w * 37 + i * 11) % ids.length];
					if (i % 5 === 4) await system.broker.call("clients.create", { name: `Late ${w}-${i}`, email: `late.${w}.${i}@snap.test` });
					else await system.broker.call("clients.update", { id, name: `Written ${w}-${i}` });
					writes++;
				}
			});
			await waitFor(() => writes >= 50, { timeoutMs: 20_000, what: "the writers under way" });
			const pages: SnapshotPage<ClientEvent>[] = [];
			let page = await system.broker.call<SnapshotPage<ClientEvent>, unknown>("clients.snapshot", { afterEntity: 0, limit: 20 });
			pages.push(page);
			const writesAtFirstPage = writes;
			// the rest of the pages are read only once writers appended after the snapshot's sequence:
			// on a busy machine the whole walk could otherwise end before any write did
			await waitFor(() => writes >= writesAtFirstPage + 20, { timeoutMs: 20_000, what: "writes after the first page" });
			while (page.next !== null) {
				page = await system.broker.call<SnapshotPage<ClientEvent>, unknown>("clients.snapshot", {
					atSequence: page.atSequence,
					afterEntity: page.next,
					limit: 20,
				});
				pages.push(page);
			}
			const writesDuring = writes - writesAtFirstPage;
			writing = false;
			await Promise.all(writers);

			const at = pages[0].atSequence;
			expect(pages.every((one) => one.atSequence === at)).toBe(true);
			expect(pages.length).toBeGreaterThan(CLIENTS / 20);
			// writers appended while the pages were read, and after the snapshot's sequence
			expect(writesDuring).toBeGreaterThan(0);
			expect(await head(store)).toBeGreaterThan(at);
			// what the whole log says the state at `at` was
			const log = await store.query<{ sequence: number; eventId: string; entityId: number; version: number; eventType: string; payload: string }>(
				"clients",
				`SELECT sequence, "eventId", "entityId", version, "eventType", payload FROM event_log ORDER BY sequence`,
			);
			const expected = lastEventsAt(
				log.map((row) => ({ ...row, sequence: Number(row.sequence), entityId: Number(row.entityId), version: Number(row.version) })),
				at,
				(row) => row.entityId,
			).map((row) => ({ sequence: row.sequence, eventId: row.eventId, eventType: row.eventType, version: row.version, ...JSON.parse(row.payload) }));
			const read = pages
				.flatMap((one) => one.events)
				.map((event) => ({
					sequence: event.sequence,
					eventId: event.eventId,
					eventType: event.eventType,
					version: event.version,
					clientId: event.clientId,
					clientName: event.clientName,
					clientEmail: event.clientEmail,
				}));
			expect(read).toEqual(expected);
			expect(pages[0].total).toBe(expected.length);
			await stop(system);
		});

		test("a rebuild through the admin route repairs a damaged copy while GETs answer 200 and writes made meanwhile end up in it", async () => {
			const system = await start({ SERVICES: "api,clients,goals" });
			const admin = (method: string) =>
				request<Rebuild>(method, `${system.url}/admin/rebuild/goals`, undefined, { headers: { authorization: `Bearer ${TOKEN}` } });
			await waitFor(async () => JSON.stringify(await copyOf(store)) === JSON.stringify(await truthOf(store)), {
				timeoutMs: 30_000,
				what: "the copy caught up before the damage",
			});
			const truth = await truthOf(store);
			const alive = truth.filter((row) => !row.deleted);
			const dead = truth.find((row) => row.deleted) as ClientRow;
			// damage: a name changed at the same version, a row lost, a tombstone alive again, a client that never existed
			await store.exec("goals", `UPDATE client_projection SET name = 'Damaged' WHERE "clientId" = ${alive[0].id}`);
			await store.exec("goals", `DELETE FROM client_projection WHERE "clientId" = ${alive[1].id}`);
			await store.exec("goals", `UPDATE client_projection SET deleted = ${dialect === "SQLite" ? 0 : "false"} WHERE "clientId" = ${dead.id}`);
			await store.exec(
				"goals",
				`INSERT INTO client_projection ("clientId", name, email, version, deleted) VALUES (999999, 'Ghost', 'ghost@snap.test', 1, ${dialect === "SQLite" ? 0 : "false"})`,
			);
			expect(await copyOf(store)).not.toEqual(truth);

			let busy = true;
			const statuses: number[] = [];
			const readers = Array.from({ length: 3 }, async (_, r) => {
				for (let i = 0; busy; i++) statuses.push((await request("GET", `${system.url}/clients/${alive[(r * 13 + i) % alive.length].id}`)).status);
			});
			let written = 0;
			const writer = (async () => {
				for (let i = 0; busy; i++) {
					// not the two damaged rows: a live event would repair those before the rebuild does
					const res = await request("PUT", `${system.url}/clients/${alive[2 + ((i * 7) % (alive.length - 2))].id}`, { name: `During rebuild ${i}` });
					expect(res.status).toBe(200);
					written++;
				}
			})();

			const accepted = await admin("POST");
			expect(accepted.status).toBe(202);
			expect(accepted.body).toMatchObject({ consumer: "goals", producer: "clients", mode: "rebuild", state: "running" });
			const done = await waitFor(
				async () => {
					const res = await admin("GET");
					expect(res.status).toBe(200);
					return res.body.mode === "rebuild" && res.body.state !== "running" ? res.body : null;
				},
				{ timeoutMs: 60_000, intervalMs: 100, what: "the rebuild to end" },
			);
			await waitFor(() => written >= 5, { timeoutMs: 20_000, what: "writes during the rebuild" });
			busy = false;
			await Promise.all([...readers, writer]);

			expect(done).toMatchObject({ state: "done", removed: 1, error: null });
			// the changed name, the lost row and the revived tombstone (and any client a write changed after S)
			expect(done.written).toBeGreaterThanOrEqual(3);
			expect(done.line).toMatch(/^Rebuilt goals' copy of clients from snapshot at #\d+: \d+ entities/);
			expect(statuses.length).toBeGreaterThan(0);
			expect(statuses.filter((status) => status !== 200)).toEqual([]);
			await waitFor(async () => JSON.stringify(await copyOf(store)) === JSON.stringify(await truthOf(store)), {
				timeoutMs: 30_000,
				what: "the copy equal to the clients after the rebuild",
			});
			const after = await copyOf(store);
			expect(after.find((row) => row.id === 999999)).toBeUndefined();
			expect(after.find((row) => row.id === dead.id)?.deleted).toBe(true);
			// an unknown consumer is a 404 in the contract's shape
			const unknown = await request("POST", `${system.url}/admin/rebuild/nobody`, undefined, { headers: { authorization: `Bearer ${TOKEN}` } });
			expect(unknown.status).toBe(404);
			expect(unknown.body).toMatchObject({ name: "NotFoundError", code: 404, type: "NOT_FOUND", data: { consumer: "nobody" } });
			await stop(system);
		});

		test("a rebuild of the client service's copy of goals repairs it the same way", async () => {
			const system = await start({ SERVICES: "api,clients,goals" });
			const alive = (await truthOf(store)).filter((row) => !row.deleted);
			const goalIds: number[] = [];
			for (const [i, client] of alive.slice(0, 6).entries()) {
				const res = await request("POST", `${system.url}/goals`, { clientId: client.id, goalName: `Goal ${i}`, targetAmount: 100 + i });
				expect(res.status).toBe(201);
				goalIds.push(res.body.id);
			}
			expect((await request("DELETE", `${system.url}/goals/${goalIds[5]}`)).status).toBe(204);
			type GoalRow = { id: number; clientId: number; goalName: string; targetCents: number; version: number; deleted: boolean };
			// PostgreSQL answers bigints as strings and SQLite booleans as 0/1: one shape for both
			const goalRow = (row: GoalRow): GoalRow => ({
				...row,
				id: Number(row.id),
				clientId: Number(row.clientId),
				targetCents: Number(row.targetCents),
				version: Number(row.version),
				deleted: Boolean(Number(row.deleted)) || row.deleted === true,
			});
			const goalTruth = async () =>
				(
					await store.query<GoalRow>(
						"goals",
						`SELECT id, "clientId", "goalName", "targetCents", version, ("deletedAt" IS NOT NULL) AS deleted FROM goals ORDER BY id`,
					)
				).map(goalRow);
			const goalCopy = async () =>
				(
					await store.query<GoalRow>(
						"clients",
						`SELECT "goalId" AS id, "clientId", "goalName", "targetCents", version, deleted FROM goal_projection ORDER BY "goalId"`,
					)
				).map(goalRow);
			await waitFor(async () => JSON.stringify(await goalCopy()) === JSON.stringify(await goalTruth()), { timeoutMs: 20_000, what: "the goal copy caught up" });
			const truth = await goalCopy();
			// damage: a target changed at the same version, a goal lost, a goal that never existed
			await store.exec("clients", `UPDATE goal_projection SET "targetCents" = 1 WHERE "goalId" = ${goalIds[0]}`);
			await store.exec("clients", `DELETE FROM goal_projection WHERE "goalId" = ${goalIds[1]}`);
			await store.exec(
				"clients",
				`INSERT INTO goal_projection ("goalId", "clientId", "goalName", "targetCents", version, deleted) VALUES (999999, ${alive[0].id}, 'Ghost', 5, 1, ${dialect === "SQLite" ? 0 : "false"})`,
			);
			expect(await goalCopy()).not.toEqual(truth);
			const admin = (method: string) =>
				request<Rebuild>(method, `${system.url}/admin/rebuild/clients`, undefined, { headers: { authorization: `Bearer ${TOKEN}` } });
			expect((await admin("POST")).status).toBe(202);
			const done = await waitFor(
				async () => {
					const res = await admin("GET");
					return res.body.mode === "rebuild" && res.body.state !== "running" ? res.body : null;
				},
				{ timeoutMs: 30_000, intervalMs: 100, what: "the rebuild of the goal copy to end" },
			);
			expect(done).toMatchObject({ consumer: "clients", producer: "goals", state: "done", written: 2, removed: 1, error: null });
			expect(await goalCopy()).toEqual(truth);
			// what a reader sees of it: the client's goals
			const shown = await request("GET", `${system.url}/clients/${alive[0].id}`);
			expect(shown.body.goals).toEqual([{ id: goalIds[0], goalName: "Goal 0", targetAmount: 100 }]);
			await stop(system);
		});
	});
}
