/**
 * The cluster: real node processes (api, clients, two goals replicas) over the machine's
 * PostgreSQL, Redis and RabbitMQ, with their own namespace, databases and queues (removed
 * afterwards, as test/cluster/cluster.test.ts does), next to floors measured in the same run,
 * and beside the peer (bench/peer/): what a user would write instead, a plain Moleculer cluster
 * of the same shape. The project runs twice, with TRANSPORTER_SECRET (as the tests run it) and
 * without, to show what sealing the packets costs.
 *
 * 4. `POST /api/goals` and `PUT /api/clients/:id`, 10 connections, vs node:http + `pg` (Pool max
 *    10), one transaction per request (goals: check the client row, goal row + event row under
 *    pg_advisory_xact_lock; PUT: update the client + event row under the same kind of lock):
 *    ratio >= 0.5. Floor, project (secret on), project (secret off) and peer alternate round by
 *    round; after each round every event is applied before the CPU counters of each process are
 *    read (/proc, bench/proc.ts): CPU ms per request, per process.
 * 5. Propagation at a steady 200 renames/s offered for ~10 s: from an event's commit (its
 *    timestamp) to its application on a goals replica, from the goal service's own histogram
 *    `cg.events.propagation` (read with `$node.metrics` through the cluster's probe broker; the
 *    difference between snapshots taken before and after). Floor: `pg` + `amqplib`, the rename
 *    committed with its event, published persistent to a durable queue, consumed and applied with
 *    a version guard in a transaction. Target: p99 <= 30 ms. Beside the peer, at 90 and 200
 *    renames/s, seen from outside: every 20th rename timed from its answer until
 *    `GET /api/goals/:id` shows the new name.
 * 6. RSS of each node after the runs (/proc/<pid>/status VmRSS): <= 150 MiB each.
 *
 * Skipped, loudly, when RabbitMQ, Redis or PostgreSQL is unreachable. `--smoke` or BENCH_SMOKE=1: tiny runs.
 */
import amqp from "amqplib";
import { performance } from "node:perf_hooks";
import { Client, Pool } from "pg";
import { METRICS } from "../lib/constants";
import { openPacket, packetContext, sealPacket, transitKey } from "../lib/infra/transit-auth";
import { PG_POOL_MAX_DEFAULT } from "../lib/storage/database";
import { Cluster } from "../test/helpers/cluster";
import { createDatabase, dropDatabase, INFRA_PORTS, INFRA_URLS, uniqueName } from "../test/helpers/infra";
import { portOpen } from "../test/helpers/node-process";
import { waitFor } from "../test/helpers/wait";
import { startFloorServer, type FloorServer } from "./floors";
import {
	boundResult,
	cpuText,
	describeRate,
	exitCodeFor,
	loud,
	type PeerRow,
	percentile,
	printPeerTable,
	printResults,
	printTable,
	progress,
	quotient,
	type Result,
	rssOfPid,
	size,
	SMOKE,
	throughputResult,
} from "./lib";
import { failures, LoadGenerator, type LoadResult, type LoadSpec, type PropagationResult } from "./load";
import { PeerCluster } from "./peer/cluster";
import { CpuAccount, type Measured, PgProcesses, pidListeningOn, ticksToMs } from "./proc";

const CLIENTS = size(200, 40);
const REQUESTS = size(2000, 150);
const WARMUP = size(200, 20);
const RENAME_RATE = 200;
const STEADY_SECONDS = size(10, 1);
/** offered rates of the propagation beside the peer */
const PROPAGATION_RATES = size([90, RENAME_RATE], [RENAME_RATE]);
/** one rename in this many is timed until a read shows it (each timed one is polled, which loads the system a little) */
const TIMED_EVERY = 20;
const PROPAGATION_TIMEOUT_MS = 10_000;
/**
 * PostgreSQL connections of a project replica (DB_POOL_MAX, one pool for reads and writes): the
 * peer's 10. (When a replica had two pools, 10 each, two project clusters beside the peer and the
 * floor overran the server's 100 connections: "too many clients already".)
 */
const PROJECT_POOL_MAX = PG_POOL_MAX_DEFAULT;
/** systems alternate in this many rounds (the machine's speed drifts during a run) */
const ROUNDS = SMOKE ? 1 : 4;
const P99_BOUND_MS = 30;
const RSS_BOUND_MIB = 150;
/** the goal service's histogram buckets (lib/infra/metrics.ts); the floor is read through the same ones */
const FALLBACK_BUCKETS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

const rate = (r: LoadResult) => ({ value: r.perSecond, text: describeRate(r.perSecond, "req/s", r.p50, r.p99) });
const problemOf = (...runs: LoadResult[]) => ({ problem: runs.map(failures).filter(Boolean).join("; ") || undefined });

// ---------------------------------------------------------------------------------------------
// the propagation histogram

/** Cumulative counts per upper bound, ascending, plus the total count (observations above the last bound included). */
interface Histogram {
	bounds: number[];
	cumulative: number[];
	count: number;
}

interface MetricSnapshot {
	name: string;
	values: Array<{ labels?: Record<string, string>; count?: number; buckets?: Record<string, number> }>;
}

async function propagationHistogram(cluster: Cluster, nodes: string[]): Promise<Histogram> {
	const sum: Histogram = { bounds: [], cumulative: [], count: 0 };
	for (const nodeID of nodes) {
		const list = (await cluster.probe.call("$node.metrics", { includes: [METRICS.propagationMs] }, { nodeID })) as MetricSnapshot[];
		for (const value of list.filter((m) => m.name === METRICS.propagationMs).flatMap((m) => m.values)) {
			if (value.labels?.producer && value.labels.producer !== "clients") continue;
			const entries = Object.entries(value.buckets ?? {})
				.map(([bound, n]) => [Number(bound), n] as const)
				.sort((a, b) => a[0] - b[0]);
			if (sum.bounds.length === 0) sum.bounds = entries.map(([bound]) => bound);
			for (const [i, [, n]] of entries.entries()) sum.cumulative[i] = (sum.cumulative[i] ?? 0) + n;
			sum.count += value.count ?? 0;
		}
	}
	return sum;
}

function difference(after: Histogram, before: Histogram): Histogram {
	return {
		bounds: after.bounds,
		cumulative: after.cumulative.map((n, i) => n - (before.cumulative[i] ?? 0)),
		count: after.count - before.count,
	};
}

function histogramOf(values: number[], bounds: number[]): Histogram {
	return { bounds, cumulative: bounds.map((bound) => values.filter((v) => v <= bound).length), count: values.length };
}

/** The q-quantile, interpolated linearly inside its bucket (Infinity above the last bound, null when empty). */
function quantile(h: Histogram, q: number): number | null {
	if (h.count === 0) return null;
	const rank = q * h.count;
	let lowerBound = 0;
	let below = 0;
	for (const [i, bound] of h.bounds.entries()) {
		const cumulative = h.cumulative[i];
		if (cumulative >= rank) {
			const inBucket = cumulative - below;
			return inBucket > 0 ? lowerBound + (bound - lowerBound) * ((rank - below) / inBucket) : bound;
		}
		lowerBound = bound;
		below = cumulative;
	}
	return Infinity;
}

const ms = (value: number | null) =>
	value === null ? "n/a" : Number.isFinite(value) ? `${value.toFixed(1)} ms` : `> ${FALLBACK_BUCKETS[FALLBACK_BUCKETS.length - 1]} ms`;

// ---------------------------------------------------------------------------------------------
// the propagation floor: pg + amqplib, no framework

export async function propagationFloor(dbUri: string, queue: string, ids: number[], warmup: number, count: number): Promise<number[]> {
	// idle connections go back after 2 s: the other clusters of the bench share PostgreSQL's 100
	const pool = new Pool({ connectionString: dbUri, max: 10, idleTimeoutMillis: 2_000 });
	const consumerPool = new Pool({ connectionString: dbUri, max: 10, idleTimeoutMillis: 2_000 });
	await pool.query(`
		DROP TABLE IF EXISTS client_copy; DROP TABLE IF EXISTS copy_checkpoint;
		CREATE TABLE client_copy (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, version INTEGER NOT NULL);
		INSERT INTO client_copy SELECT id, name, version FROM clients;
		CREATE TABLE copy_checkpoint (producer VARCHAR(32) PRIMARY KEY, sequence INTEGER NOT NULL);
		INSERT INTO copy_checkpoint VALUES ('clients', 0);`);
	// no Nagle, as the project's transporter (moleculer.config.ts)
	const publisher = await amqp.connect(INFRA_URLS.rabbitmq, { noDelay: true });
	const consumer = await amqp.connect(INFRA_URLS.rabbitmq, { noDelay: true });
	const latencies: number[] = [];
	let applied = 0;
	try {
		const out = await publisher.createChannel();
		const inbound = await consumer.createChannel();
		await out.assertQueue(queue, { durable: true });
		// up to 10 events applied at once, each in its own transaction (the version guard keeps per-entity order)
		await inbound.prefetch(10);
		await inbound.consume(queue, (message) => {
			if (!message) return;
			void (async () => {
				const e = JSON.parse(message.content.toString()) as { id: number; name: string; version: number; sequence: number; timestamp: string };
				const db = await consumerPool.connect();
				try {
					await db.query("BEGIN");
					const changed = await db.query("UPDATE client_copy SET name = $2, version = $3 WHERE id = $1 AND version < $3", [e.id, e.name, e.version]);
					if (changed.rowCount) await db.query(`UPDATE goals SET "clientName" = $2 WHERE "clientId" = $1 AND "deletedAt" IS NULL`, [e.id, e.name]);
					await db.query("UPDATE copy_checkpoint SET sequence = GREATEST(sequence, $1) WHERE producer = 'clients'", [e.sequence]);
					await db.query("COMMIT");
				} finally {
					db.release();
				}
				// the warm-up's renames (pools connecting, JIT) are not counted
				if (e.name.startsWith("Steady")) latencies.push(Date.now() - Date.parse(e.timestamp));
				applied++;
				inbound.ack(message);
			})();
		});

		const rename = async (i: number) => {
			const id = ids[i % ids.length];
			const name = i < warmup ? `Warm-up ${i}` : `Steady ${i}`;
			const client = await pool.connect();
			try {
				await client.query("BEGIN");
				const { rows } = await client.query(`UPDATE clients SET name = $2, version = version + 1, "updatedAt" = now() WHERE id = $1 RETURNING version, email`, [
					id,
					name,
				]);
				const timestamp = new Date().toISOString();
				await client.query("SELECT pg_advisory_xact_lock(hashtext('client_events'))");
				const event = await client.query(
					`INSERT INTO client_events ("eventId", "eventType", "entityId", version, payload, timestamp) VALUES ($1, 'UPDATED', $2, $3, $4, $5) RETURNING sequence`,
					[`floor-${i}-${Date.now()}`, id, rows[0].version, JSON.stringify({ clientId: id, clientName: name, clientEmail: rows[0].email }), timestamp],
				);
				await client.query("COMMIT");
				out.sendToQueue(queue, Buffer.from(JSON.stringify({ id, name, version: rows[0].version, sequence: event.rows[0].sequence, timestamp })), {
					persistent: true,
					contentType: "application/json",
				});
			} catch (err) {
				await client.query("ROLLBACK").catch(() => undefined);
				throw err;
			} finally {
				client.release();
			}
		};
		// the same open loop as the load generator's: rename k is due at k / RENAME_RATE s
		const started = performance.now();
		const inFlight: Array<Promise<void>> = [];
		for (let k = 0; k < warmup + count; k++) {
			const wait = started + (k * 1000) / RENAME_RATE - performance.now();
			if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
			inFlight.push(rename(k));
		}
		await Promise.all(inFlight);
		await waitFor(() => applied >= warmup + count, { timeoutMs: 60_000, intervalMs: 20, what: "the floor's consumer to apply every rename" });
		await out.deleteQueue(queue);
	} finally {
		await publisher.close().catch(() => undefined);
		await consumer.close().catch(() => undefined);
		await consumerPool.end().catch(() => undefined);
		await pool.end().catch(() => undefined);
	}
	return latencies;
}

// ---------------------------------------------------------------------------------------------

/** Every client id the project's REST API lists. */
async function listIds(api: string): Promise<number[]> {
	const ids: number[] = [];
	for (let page = 1; ; page++) {
		const res = await fetch(`${api}/clients?page=${page}&pageSize=100`);
		const body = (await res.json()) as { rows: Array<{ id: number }> };
		if (!res.ok || body.rows.length === 0) return ids;
		ids.push(...body.rows.map((row) => row.id));
	}
}

async function floorClientIds(uri: string): Promise<number[]> {
	const client = new Client({ connectionString: uri });
	await client.connect();
	try {
		return (await client.query<{ id: number }>("SELECT id FROM clients ORDER BY id")).rows.map((r) => r.id);
	} finally {
		await client.end();
	}
}

/**
 * Whether everything written so far has gone everywhere it goes: the goal service has applied
 * the client log, the client service the goal log, and each relay has published its log.
 */
async function projectSettled(cluster: Cluster): Promise<boolean> {
	const lag = async (service: "clients" | "goals", consumer: "clients" | "goals", producer: "clients" | "goals") => {
		const [last] = await cluster.query<{ last: string | null }>(service, "SELECT MAX(sequence) AS last FROM event_log");
		const [cp] = await cluster.query<{ sequence: string }>(consumer, `SELECT sequence FROM checkpoints WHERE producer = '${producer}'`);
		const [relayed] = await cluster.query<{ sequence: string }>(service, `SELECT sequence FROM relay_checkpoint WHERE source = '${producer}'`);
		const end = Number(last?.last ?? 0);
		return Number(cp?.sequence ?? 0) >= end && Number(relayed?.sequence ?? 0) >= end;
	};
	const [clientsDone, goalsDone] = await Promise.all([lag("clients", "goals", "clients"), lag("goals", "clients", "goals")]);
	return clientsDone && goalsDone;
}

/** Until `check` holds (within two minutes; a system that never settles is reported, not fatal). */
async function settle(check: () => Promise<boolean>, what: string): Promise<void> {
	try {
		await waitFor(check, { timeoutMs: 120_000, intervalMs: 100, what });
	} catch (err) {
		progress(`could not see ${what} (${(err as Error).message.split("\n")[0]}); going on`);
	}
}

// ---------------------------------------------------------------------------------------------
// the systems side by side

/** The CPU table's rows, one per process or group of processes. */
const ROWS = {
	api: "api (node)",
	clients: "clients (node)",
	goals1: "goals-1 (node)",
	goals2: "goals-2 (node)",
	pg: "PostgreSQL backends of its databases",
	pgShared: "PostgreSQL walwriter, checkpointer, bgwriter (shared)",
	rabbit: "RabbitMQ beam.smp (shared)",
	redis: "Redis (shared)",
} as const;

/** A cluster under load: the project with or without TRANSPORTER_SECRET, the peer, or the floor. */
interface System {
	label: string;
	url: string;
	ids: number[];
	/** CPU table row → pid of each node process */
	nodes: Array<[string, number]>;
	databases: string[];
	settled(): Promise<boolean>;
	/** [clientId, goalId] of one goal per client */
	goals(): Promise<Array<[number, number]>>;
	rss(): Array<[string, number | null]>;
	/** what its nodes printed (for failed requests) */
	logs(): string;
}

const dbName = (uri: string) => uri.slice(uri.lastIndexOf("/") + 1);

function projectSystem(label: string, cluster: Cluster, url: string, ids: number[]): System {
	const pid = (name: string) => cluster.nodes.get(name)?.child.pid as number;
	const names: Array<[string, string]> = [
		[ROWS.api, "api-1"],
		[ROWS.clients, "clients-1"],
		[ROWS.goals1, "goals-1"],
		[ROWS.goals2, "goals-2"],
	];
	return {
		label,
		url,
		ids,
		nodes: names.map(([row, name]) => [row, pid(name)]),
		databases: [dbName(cluster.clientsDb), dbName(cluster.goalsDb)],
		settled: () => projectSettled(cluster),
		goals: async () =>
			(
				await cluster.query<{ clientId: number; id: number }>(
					"goals",
					`SELECT DISTINCT ON ("clientId") "clientId", id FROM goals WHERE "deletedAt" IS NULL ORDER BY "clientId", id`,
				)
			).map((row) => [row.clientId, row.id]),
		rss: () => names.map(([row, name]) => [row, rssOfPid(pid(name))]),
		logs: () => cluster.logs(),
	};
}

function peerSystem(peer: PeerCluster, ids: number[]): System {
	const pids = peer.pids();
	const names: Array<[string, string]> = [
		[ROWS.api, "peer-api-1"],
		[ROWS.clients, "peer-clients-1"],
		[ROWS.goals1, "peer-goals-1"],
		[ROWS.goals2, "peer-goals-2"],
	];
	return {
		label: "peer",
		url: peer.url,
		ids,
		nodes: names.map(([row, name]) => [row, pids.get(name) as number]),
		databases: Object.values(peer.databases),
		settled: () => peer.settled(),
		goals: () => peer.goalOfEachClient(),
		rss: () => names.map(([row, name]) => [row, rssOfPid(pids.get(name))]),
		logs: () => peer.logs(),
	};
}

function floorSystem(floor: FloorServer, database: string, ids: number[]): System {
	return {
		label: "floor",
		url: floor.url,
		ids,
		nodes: [["floor server (node:http + pg)", floor.pid]],
		databases: [database],
		settled: async () => true,
		goals: async () => [],
		rss: () => [["floor server", floor.rss()]],
		logs: () => "",
	};
}

/** What /proc says each process of a system spent: its nodes, its PostgreSQL backends, and the shared servers. */
function cpuAccount(system: System, pg: PgProcesses, shared: { rabbit: number | null; redis: number | null }): CpuAccount {
	return new CpuAccount([
		...system.nodes.map(([label, pid]): Measured => ({ label, pids: () => [pid] })),
		{ label: ROWS.pg, pids: () => pg.backends(system.databases) },
		{ label: ROWS.pgShared, pids: () => pg.background() },
		{ label: ROWS.rabbit, pids: () => (shared.rabbit ? [shared.rabbit] : []) },
		{ label: ROWS.redis, pids: () => (shared.redis ? [shared.redis] : []) },
	]);
}

interface Measurement {
	system: System;
	result: LoadResult;
	cpu: CpuAccount;
}

/** A closed-loop case on every system in alternating rounds, each round settled and its CPU read. */
async function measureEverywhere(
	load: LoadGenerator,
	systems: System[],
	spec: Omit<LoadSpec, "url" | "ids">,
	cpuOf: (system: System) => CpuAccount,
): Promise<Measurement[]> {
	const cases = systems.map((system) => {
		const cpu = cpuOf(system);
		return {
			label: `${system.label}: ${spec.method} ${spec.path}`,
			spec: { ...spec, url: system.url, ids: system.ids },
			cpu,
			before: () => cpu.start(),
			after: async (measured: boolean) => {
				await settle(system.settled, `${system.label} to apply every event of its ${spec.method} round`);
				if (measured) await cpu.stop();
			},
		};
	});
	const results = await load.measureRounds(cases, WARMUP, ROUNDS);
	for (const [i, result] of results.entries()) {
		if (result.failed === 0) continue;
		const errors = systems[i]
			.logs()
			.split("\n")
			.filter((line) => /error|fail/i.test(line));
		progress(`${systems[i].label}: what its nodes said of errors:\n${errors.slice(-30).join("\n")}`);
	}
	return cases.map((c, i) => ({ system: systems[i], result: results[i], cpu: c.cpu }));
}

/**
 * CPU µs to seal and open one packet of `bytes` with TRANSPORTER_SECRET (lib/infra/transit-auth.ts),
 * in this process: the encryption's own price, which the on/off comparison of whole clusters
 * cannot resolve on a noisy machine.
 */
function sealMicros(bytes: number): number {
	const key = transitKey("bench-secret-".repeat(4));
	const context = packetContext("bench", "REQ");
	const data = Buffer.alloc(bytes, 1);
	const n = size(50_000, 2_000);
	for (let i = 0; i < n / 5; i++) openPacket([key], sealPacket(key, data, context, "bench-1"), context);
	const start = process.cpuUsage();
	for (let i = 0; i < n; i++) openPacket([key], sealPacket(key, data, context, "bench-1"), context);
	const spent = process.cpuUsage(start);
	return (spent.user + spent.system) / n;
}

const pct = (from: number, to: number) => `${to >= from ? "+" : ""}${(((to - from) / from) * 100).toFixed(0)} %`;

/** "p50 12.0 ms, p90 20.1 ms, p99 31.0 ms (45 timed; 90 renames/s answered)" */
function propagationText(p: PropagationResult): string {
	const lost = p.lost > 0 ? `, ${p.lost} never seen within ${PROPAGATION_TIMEOUT_MS / 1000} s` : "";
	const at = (q: number) => `p${q} ${percentile(p.latencies, q).toFixed(1)} ms`;
	// an offered rate the system cannot carry shows as renames answered per second below it
	return `${at(50)}, ${at(90)}, ${at(99)} (${p.latencies.length} timed${lost}; ${p.renames.perSecond.toFixed(0)} renames/s answered)`;
}

async function main(): Promise<void> {
	const up = await Promise.all(Object.values(INFRA_PORTS).map((port) => portOpen(port, 1000)));
	const missing = Object.keys(INFRA_PORTS).filter((_, i) => !up[i]);
	if (missing.length > 0) {
		loud(`bench/cluster.ts SKIPPED: ${missing.join(", ")} unreachable — no cluster figures in this run`);
		console.log(`\n### Cluster: SKIPPED (${missing.join(", ")} unreachable)`);
		return;
	}

	// the project twice: as the cluster tests run it (packets sealed with a secret), and without one
	const cluster = new Cluster({ CATCHUP_INTERVAL: "10000", DB_POOL_MAX: String(PROJECT_POOL_MAX) });
	const open = new Cluster({ CATCHUP_INTERVAL: "10000", DB_POOL_MAX: String(PROJECT_POOL_MAX), TRANSPORTER_SECRET: "" });
	const peer = new PeerCluster();
	const floorDbName = uniqueName("cg_floor");
	const admin = new Client({ connectionString: `${INFRA_URLS.postgres}/postgres` });
	let floorDb = "";
	let floor: FloorServer | undefined;
	let load: LoadGenerator | undefined;
	const results: Result[] = [];
	const notes: string[] = [];
	const peerRows: PeerRow[] = [];
	const peerNotes: string[] = [];
	let cpuTable: { header: string[]; rows: string[][]; notes: string[] } | undefined;
	try {
		progress(
			`clusters: the project with and without TRANSPORTER_SECRET and the peer, each api, clients, goals ×2 (namespaces ${cluster.namespace}, ${open.namespace}, ${peer.namespace})${SMOKE ? " — smoke mode" : ""}`,
		);
		await admin.connect();
		const pg = new PgProcesses(admin);
		const shared = { rabbit: pidListeningOn(INFRA_PORTS.rabbitmq), redis: pidListeningOn(INFRA_PORTS.redis) };
		if (!shared.rabbit || !shared.redis) progress(`RabbitMQ's or Redis's pid not found (${JSON.stringify(shared)}): their CPU is not measured`);

		// each node as `npm start` runs it (bench/compiled.ts); the first one compiles the bundle the others run
		const asStarted = { compiled: true };
		const startProject = async (c: Cluster) => {
			await c.setUp();
			await c.start("clients-1", "clients", {}, asStarted);
			await Promise.all([c.start("goals-1", "goals", {}, asStarted), c.start("goals-2", "goals", {}, asStarted)]);
			return c.startApi("api-1", {}, asStarted);
		};
		const [api, openApi] = await Promise.all([startProject(cluster), startProject(open), peer.start()]);
		floorDb = await createDatabase(floorDbName);
		floor = await startFloorServer("pg", floorDb);
		load = LoadGenerator.start();

		// clients to work on, on every side
		const seed = { method: "POST" as const, path: "/clients", body: '{"name":"Client {i}","email":"client{i}@bench.test"}', concurrency: 10, count: CLIENTS };
		progress(`seeding ${CLIENTS} clients on every side`);
		const seeded = [
			await load.run({ ...seed, url: api }),
			await load.run({ ...seed, url: openApi }),
			await load.run({ ...seed, url: peer.url }),
			await load.run({ ...seed, url: floor.url }),
		];
		const seedProblem = problemOf(...seeded).problem;
		if (seedProblem) throw new Error(`seeding clients failed: ${seedProblem}: ${seeded.flatMap((r) => r.sampleErrors).join(" / ")}`);
		const on = projectSystem("project (secret on)", cluster, api, await listIds(api));
		const off = projectSystem("project (secret off)", open, openApi, await listIds(openApi));
		const plain = peerSystem(peer, await peer.clientIds());
		const bare = floorSystem(floor, floorDbName, await floorClientIds(floorDb));
		const systems = [bare, on, off, plain];
		const cpuOf = (system: System) => cpuAccount(system, pg, shared);

		// 4. POST /api/goals, then PUT /api/clients/:id: the four systems in alternating rounds
		const posts = await measureEverywhere(
			load,
			systems,
			{ method: "POST", path: "/goals", body: '{"clientId":{id},"goalName":"Goal {i}","targetAmount":100.25}', concurrency: 10, count: REQUESTS },
			cpuOf,
		);
		const puts = await measureEverywhere(
			load,
			systems,
			{ method: "PUT", path: "/clients/{id}", body: '{"name":"Renamed {i}"}', concurrency: 10, count: REQUESTS },
			cpuOf,
		);
		const [floorPost, onPost, offPost, peerPost] = posts;
		const [floorPut, onPut, offPut, peerPut] = puts;
		results.push(
			throughputResult(
				"cluster `POST /api/goals`, 10 connections",
				rate(onPost.result),
				rate(floorPost.result),
				0.5,
				problemOf(onPost.result, floorPost.result),
			),
			throughputResult(
				"cluster `PUT /api/clients/:id`, 10 connections",
				rate(onPut.result),
				rate(floorPut.result),
				0.5,
				problemOf(onPut.result, floorPut.result),
			),
		);

		// 5. propagation at steady offered rates: the project's own histogram against the pg + amqplib floor (200/s) …
		const renames = RENAME_RATE * STEADY_SECONDS;
		progress(`floor: ${renames} renames at ${RENAME_RATE}/s through pg + amqplib, after a 1 s warm-up`);
		const floorLatencies = await propagationFloor(floorDb, `${cluster.namespace}-floor-propagation`, bare.ids, RENAME_RATE, renames);
		// … and every system seen from outside: rename, then read the goal until it shows the new name
		const goalsNodes = ["goals-1", "goals-2"];
		const propagation = new Map<string, PropagationResult>();
		let histogram: Histogram | undefined;
		let steady: LoadResult | undefined;
		let run = 0;
		for (const offered of PROPAGATION_RATES) {
			for (const system of [on, off, plain]) {
				const before = system === on && offered === RENAME_RATE ? await propagationHistogram(cluster, goalsNodes) : undefined;
				const count = offered * STEADY_SECONDS;
				progress(`${system.label}: ${count} renames at ${offered}/s, every ${TIMED_EVERY}th timed until GET /api/goals/:id shows it`);
				const outcome = await load.propagation({
					url: system.url,
					rate: offered,
					count,
					ids: system.ids,
					goals: await system.goals(),
					every: TIMED_EVERY,
					namePrefix: "Steady",
					start: 10_000_000 + run++ * 1_000_000,
					pollMs: 2,
					timeoutMs: PROPAGATION_TIMEOUT_MS,
				});
				await settle(system.settled, `${system.label} to apply the steady renames`);
				progress(`${system.label} at ${offered}/s: ${propagationText(outcome)}`);
				propagation.set(`${system.label}@${offered}`, outcome);
				if (before) {
					histogram = difference(await propagationHistogram(cluster, goalsNodes), before);
					steady = outcome.renames;
				}
			}
		}
		const observed = histogram ?? { bounds: [], cumulative: [], count: 0 };
		const bounds = observed.bounds.length > 0 ? observed.bounds : FALLBACK_BUCKETS;
		const floorHistogram = histogramOf(floorLatencies, bounds);
		const sortedFloor = [...floorLatencies].sort((a, b) => a - b);
		const [p50, p99, floorP50, floorP99] = [quantile(observed, 0.5), quantile(observed, 0.99), quantile(floorHistogram, 0.5), quantile(floorHistogram, 0.99)];
		progress(`propagation: ${observed.count} observed, p50 ${ms(p50)}, p99 ${ms(p99)}; floor p50 ${ms(floorP50)}, p99 ${ms(floorP99)}`);
		// refusals under an offered rate are a result (the cluster cannot carry it), not a broken benchmark
		const refused = steady && failures(steady) ? `${failures(steady)} under the offered rate` : undefined;
		const tooFew = steady && observed.count < steady.ok * 0.9 ? `only ${observed.count} of ${steady.ok} renames observed live` : undefined;
		results.push(
			boundResult(
				`cluster propagation, ${RENAME_RATE} renames/s offered for ${STEADY_SECONDS} s (commit → applied on goals)`,
				{ value: p99, text: `p50 ${ms(p50)}, p99 ${ms(p99)} (${observed.count} events)` },
				{
					value: floorP99,
					text: `p50 ${ms(floorP50)}, p99 ${ms(floorP99)} (exact: ${percentile(sortedFloor, 50).toFixed(1)}, ${percentile(sortedFloor, 99).toFixed(1)} ms)`,
				},
				{ value: P99_BOUND_MS, text: `p99 <= ${P99_BOUND_MS} ms` },
				{ note: [refused, tooFew].filter(Boolean).join("; ") || undefined },
			),
		);
		notes.push(
			`propagation figure: the goals replicas' \`${METRICS.propagationMs}\` histogram (buckets ${bounds.join(", ")} ms), the difference between snapshots before and after the steady phase; quantiles interpolated inside their bucket; the floor's latencies are read through the same buckets (its exact percentiles in parentheses)`,
		);
		if (steady)
			notes.push(`steady phase: ${steady.ok}/${steady.count} renames answered 2xx, HTTP p50 ${steady.p50.toFixed(1)} ms, p99 ${steady.p99.toFixed(1)} ms`);

		// 6. memory of each node after the runs
		const floorRss = floor.rss();
		for (const [name, node] of cluster.nodes) {
			const rss = rssOfPid(node.child.pid);
			results.push(
				boundResult(
					`RSS of ${name} after the runs`,
					{ value: rss, text: rss === null ? "n/a" : `${rss.toFixed(1)} MiB` },
					{ value: floorRss, text: floorRss === null ? "n/a" : `${floorRss.toFixed(1)} MiB` },
					{ value: RSS_BOUND_MIB, text: `<= ${RSS_BOUND_MIB} MiB` },
				),
			);
		}
		notes.push("floor: node:http + pg (Pool max 10) in a process of its own, one transaction per request; the load generator is another process");
		notes.push("ratio: figure ÷ floor for throughputs, floor ÷ figure for latency and memory (1.00 = as good as the bare libraries)");
		notes.push(
			`requests per case: ${REQUESTS} after a warm-up of ${WARMUP}, over ${CLIENTS} clients, in ${ROUNDS} rounds alternating floor, project (secret on), project (secret off), peer; the figure is the project with TRANSPORTER_SECRET, as the cluster runs in the tests`,
		);

		// the project beside the peer
		for (const [project, secret] of [
			[onPost, "on"],
			[offPost, "off"],
		] as const) {
			peerRows.push({
				case: `cluster \`POST /api/goals\`, 10 connections (secret ${secret})`,
				project: rate(project.result).text,
				peer: rate(peerPost.result).text,
				ratio: quotient(project.result.perSecond, peerPost.result.perSecond),
			});
		}
		for (const [project, secret] of [
			[onPut, "on"],
			[offPut, "off"],
		] as const) {
			peerRows.push({
				case: `cluster \`PUT /api/clients/:id\`, 10 connections (secret ${secret})`,
				project: rate(project.result).text,
				peer: rate(peerPut.result).text,
				ratio: quotient(project.result.perSecond, peerPut.result.perSecond),
			});
		}
		const cpuPer = (m: Measurement) => m.cpu.totalMsPer(m.result.ok);
		for (const [what, project, peerSide] of [
			["POST", onPost, peerPost],
			["POST", offPost, peerPost],
			["PUT", onPut, peerPut],
			["PUT", offPut, peerPut],
		] as const) {
			peerRows.push({
				case: `cluster CPU ms per ${what}, all processes ${project.system.label.replace("project ", "")}`,
				project: cpuText(cpuPer(project)),
				peer: cpuText(cpuPer(peerSide)),
				ratio: quotient(cpuPer(project), cpuPer(peerSide)),
			});
		}
		for (const offered of PROPAGATION_RATES) {
			const peerSide = propagation.get(`${plain.label}@${offered}`);
			for (const system of [on, off]) {
				const project = propagation.get(`${system.label}@${offered}`);
				if (!project || !peerSide) continue;
				peerRows.push({
					case: `cluster propagation at ${offered} renames/s offered, rename answered → \`GET /api/goals/:id\` shows it ${system.label.replace("project ", "")}`,
					project: propagationText(project),
					peer: propagationText(peerSide),
					ratio: quotient(percentile(project.latencies, 99), percentile(peerSide.latencies, 99)),
				});
			}
		}
		const peerRss = new Map(plain.rss());
		const offRss = new Map(off.rss());
		for (const [row, rss] of on.rss()) {
			const peerSide = peerRss.get(row) ?? null;
			const offSide = offRss.get(row);
			peerRows.push({
				case: `RSS of ${row.replace(" (node)", "")} after the runs`,
				project: `${rss === null ? "n/a" : rss.toFixed(1)} MiB (secret off: ${offSide?.toFixed(1) ?? "n/a"})`,
				peer: peerSide === null ? "n/a" : `${peerSide.toFixed(1)} MiB`,
				ratio: quotient(rss, peerSide),
			});
		}
		peerNotes.push(
			"project/peer: the plain quotient (req/s below 1: the project is slower; ms, CPU and MiB above 1: it costs more); for propagation the quotient of the p99s",
			`propagation: ${STEADY_SECONDS} s of renames at each offered rate; every ${TIMED_EVERY}th rename answered 2xx is timed from its answer until a read of one of that client's goals (polled every 2 ms from the load generator's process) shows the new name; p50/p99 of those`,
			`the secret: ${secretCost("POST", onPost, offPost)}; ${secretCost("PUT", onPut, offPut)}; sealing and opening one packet costs ${sealMicros(300).toFixed(0)} µs of CPU at 300 bytes, ${sealMicros(3000).toFixed(0)} µs at 3 kB (AES-256-GCM), and a PUT crosses 3 packets (request, response, event), a POST of a goal 5 (the client check's request and response too)`,
		);

		// CPU ms per request, per process
		// each column with the peer's column it is compared with
		const columns: Array<[string, Measurement, Measurement | null]> = [
			["POST project (secret on)", onPost, peerPost],
			["POST project (secret off)", offPost, peerPost],
			["POST peer", peerPost, null],
			["PUT project (secret on)", onPut, peerPut],
			["PUT project (secret off)", offPut, peerPut],
			["PUT peer", peerPut, null],
		];
		const rows = Object.values(ROWS).map((row) => [row, ...columns.map(([, m]) => cpuText(m.cpu.msPer(row, m.result.ok)))]);
		rows.push(["**all processes**", ...columns.map(([, m]) => `**${cpuText(cpuPer(m))}**`)]);
		rows.push([
			"all processes, project/peer",
			...columns.map(([, m, peerSide]) => (peerSide ? (quotient(cpuPer(m), cpuPer(peerSide))?.toFixed(2) ?? "n/a") : "—")),
		]);
		const floorCpu = (m: Measurement) => `${cpuText(m.cpu.msPer(bare.nodes[0][0], m.result.ok))} + PostgreSQL ${cpuText(m.cpu.msPer(ROWS.pg, m.result.ok))}`;
		cpuTable = {
			header: ["CPU ms per request", ...columns.map(([name]) => name)],
			rows,
			notes: [
				`utime + stime from /proc/<pid>/stat (clock ticks of ${ticksToMs(1).toFixed(0)} ms) before and after each measured round, the round's events all applied before the second reading, summed over the rounds ÷ the 2xx answers`,
				"PostgreSQL backends: those connected to the system's own databases (pg_stat_activity); a backend opened during a round counts from its start, one closed during it loses its last ticks",
				"(shared): RabbitMQ, Redis and PostgreSQL's background processes serve every program on this machine, and other people's test suites ran meanwhile: those rows include their work, alike for project and peer",
				`the floor (node:http + pg, one process): POST ${floorCpu(floorPost)}, PUT ${floorCpu(floorPut)} ms`,
			],
		};
		const peerProblem = problemOf(peerPost.result, peerPut.result, offPost.result, offPut.result).problem;
		if (peerProblem) {
			// a side that fails requests makes every quotient a lie
			loud(`bench/cluster.ts: the peer or the project without a secret failed requests: ${peerProblem}`);
			process.exitCode = 1;
		}
	} catch (err) {
		loud(`bench/cluster.ts failed: ${(err as Error).stack ?? err}\n${cluster.logs().slice(-3000)}\n${open.logs().slice(-2000)}\n${peer.logs().slice(-2000)}`);
		process.exitCode = 1;
	} finally {
		load?.close();
		await floor?.stop().catch(() => undefined);
		await cluster.tearDown().catch((err: Error) => progress(`cluster teardown: ${err.message}`));
		await open.tearDown().catch((err: Error) => progress(`cluster (no secret) teardown: ${err.message}`));
		await peer.tearDown().catch((err: Error) => progress(`peer teardown: ${err.message}`));
		if (floorDb) await dropDatabase(floorDbName).catch((err: Error) => progress(`dropping ${floorDbName}: ${err.message}`));
		await admin.end().catch(() => undefined);
	}
	if (results.length === 0) return;
	printResults("Cluster: api, clients, goals ×2 (PostgreSQL, Redis, RabbitMQ)", results, notes);
	if (peerRows.length > 0) {
		printPeerTable("Cluster beside the peer (plain Moleculer 0.15: moleculer-web, AMQP, pg; no cacher, relay, request keys or catch-up)", peerRows, peerNotes);
	}
	if (cpuTable) printTable("Cluster: CPU ms per request, per process", cpuTable.header, cpuTable.rows, cpuTable.notes);
	if (process.exitCode !== 1) process.exitCode = exitCodeFor(results);
}

/** "POST 150 → 160 req/s (+7 %) and 9.1 → 8.2 CPU ms (−0.9 ms) without it" */
function secretCost(what: string, on: Measurement, off: Measurement): string {
	const [cpuOn, cpuOff] = [on.cpu.totalMsPer(on.result.ok), off.cpu.totalMsPer(off.result.ok)];
	const nodes = (m: Measurement) => m.system.nodes.reduce((sum, [row]) => sum + (m.cpu.msPer(row, m.result.ok) ?? 0), 0);
	const cpu =
		cpuOn === null || cpuOff === null
			? "CPU n/a"
			: `${cpuOn.toFixed(2)} CPU ms per request with it, ${cpuOff.toFixed(2)} without (${(cpuOn - cpuOff).toFixed(2)} ms, of which the node processes ${(nodes(on) - nodes(off)).toFixed(2)})`;
	return `${what} ${on.result.perSecond.toFixed(0)} req/s with it, ${off.result.perSecond.toFixed(0)} without (${pct(off.result.perSecond, on.result.perSecond)}), ${cpu}`;
}

if (require.main === module) void main();
