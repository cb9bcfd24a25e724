/**
 * The cluster: real node processes (api, clients, two goals replicas) over the machine's
 * PostgreSQL, Redis and RabbitMQ, with their own namespace, databases and queues (removed
 * afterwards, as test/cluster/cluster.test.ts does), next to floors measured in the same run:
 *
 * 4. `POST /api/goals` and `PUT /api/clients/:id`, 10 connections, vs node:http + `pg` (Pool max
 *    10), one transaction per request (goals: check the client row, goal row + event row under
 *    pg_advisory_xact_lock; PUT: update the client + event row under the same kind of lock):
 *    ratio >= 0.5.
 * 5. Propagation at a steady 200 renames/s offered for ~10 s: from an event's commit (its
 *    timestamp) to its application on a goals replica, from the goal service's own histogram
 *    `cg.events.propagation` (read with `$node.metrics` through the cluster's probe broker; the
 *    difference between snapshots taken before and after). Floor: `pg` + `amqplib`, the rename
 *    committed with its event, published persistent to a durable queue, consumed and applied with
 *    a version guard in a transaction. Target: p99 <= 30 ms.
 * 6. RSS of each node after the runs (/proc/<pid>/status VmRSS): <= 150 MiB each.
 *
 * Skipped, loudly, when RabbitMQ, Redis or PostgreSQL is unreachable. `--smoke` or BENCH_SMOKE=1: tiny runs.
 */
import amqp from "amqplib";
import { performance } from "node:perf_hooks";
import { Client, Pool } from "pg";
import { METRICS } from "../lib/constants";
import { PG_POOL_MAX_DEFAULT } from "../lib/storage/database";
import { Cluster } from "../test/helpers/cluster";
import { createDatabase, dropDatabase, INFRA_PORTS, INFRA_URLS, uniqueName } from "../test/helpers/infra";
import { portOpen } from "../test/helpers/node-process";
import { waitFor } from "../test/helpers/wait";
import { startFloorServer, type FloorServer } from "./floors";
import { boundResult, describeRate, exitCodeFor, loud, percentile, printResults, progress, type Result, rssOfPid, size, SMOKE, throughputResult } from "./lib";
import { failures, LoadGenerator, type LoadResult } from "./load";

const CLIENTS = size(200, 40);
const REQUESTS = size(2000, 150);
const WARMUP = size(200, 20);
const RENAME_RATE = 200;
const STEADY_SECONDS = size(10, 2);
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
	const pool = new Pool({ connectionString: dbUri, max: 10 });
	const consumerPool = new Pool({ connectionString: dbUri, max: 10 });
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

/** Until the goal service's checkpoint reaches the client log's end (nothing in flight). */
async function settled(cluster: Cluster, what: string): Promise<void> {
	try {
		await waitFor(
			async () => {
				const [last] = await cluster.query<{ last: string | null }>("clients", "SELECT MAX(sequence) AS last FROM event_log");
				const [cp] = await cluster.query<{ sequence: string }>("goals", "SELECT sequence FROM checkpoints WHERE producer = 'clients'");
				return cp !== undefined && Number(cp.sequence) >= Number(last?.last ?? 0);
			},
			{ timeoutMs: 120_000, intervalMs: 100, what },
		);
	} catch (err) {
		progress(`could not see ${what} (${(err as Error).message.split("\n")[0]}); going on`);
	}
}

async function main(): Promise<void> {
	const up = await Promise.all(Object.values(INFRA_PORTS).map((port) => portOpen(port, 1000)));
	const missing = Object.keys(INFRA_PORTS).filter((_, i) => !up[i]);
	if (missing.length > 0) {
		loud(`bench/cluster.ts SKIPPED: ${missing.join(", ")} unreachable — no cluster figures in this run`);
		console.log(`\n### Cluster: SKIPPED (${missing.join(", ")} unreachable)`);
		return;
	}

	const cluster = new Cluster({ CATCHUP_INTERVAL: "10000", DB_POOL_MAX: String(PG_POOL_MAX_DEFAULT) });
	const floorDbName = uniqueName("cg_floor");
	let floorDb = "";
	let floor: FloorServer | undefined;
	let load: LoadGenerator | undefined;
	const results: Result[] = [];
	const notes: string[] = [];
	try {
		progress(`cluster: api, clients, goals ×2 over PostgreSQL, Redis, RabbitMQ (namespace ${cluster.namespace})${SMOKE ? " — smoke mode" : ""}`);
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		await Promise.all([cluster.start("goals-1", "goals"), cluster.start("goals-2", "goals")]);
		const api = await cluster.startApi("api-1");
		floorDb = await createDatabase(floorDbName);
		floor = await startFloorServer("pg", floorDb);
		load = LoadGenerator.start();

		// clients to work on, on both sides
		const seed = { method: "POST" as const, path: "/clients", body: '{"name":"Client {i}","email":"client{i}@bench.test"}', concurrency: 10, count: CLIENTS };
		progress(`seeding ${CLIENTS} clients on both sides`);
		const seeded = [await load.run({ ...seed, url: api }), await load.run({ ...seed, url: floor.url })];
		const seedProblem = problemOf(...seeded).problem;
		if (seedProblem) throw new Error(`seeding clients failed: ${seedProblem}: ${seeded.flatMap((r) => r.sampleErrors).join(" / ")}`);
		const ids = await listIds(api);
		const floorIds = await floorClientIds(floorDb);

		// 4. POST /api/goals, then PUT /api/clients/:id
		const goal = {
			method: "POST" as const,
			path: "/goals",
			body: '{"clientId":{id},"goalName":"Goal {i}","targetAmount":100.25}',
			concurrency: 10,
			count: REQUESTS,
		};
		const floorGoals = await load.measure("floor POST /goals", { ...goal, url: floor.url, ids: floorIds }, WARMUP);
		const goals = await load.measure("POST /api/goals", { ...goal, url: api, ids }, WARMUP);
		results.push(throughputResult("cluster `POST /api/goals`, 10 connections", rate(goals), rate(floorGoals), 0.5, problemOf(goals, floorGoals)));

		const put = { method: "PUT" as const, path: "/clients/{id}", body: '{"name":"Renamed {i}"}', concurrency: 10, count: REQUESTS };
		const floorPuts = await load.measure("floor PUT /clients/:id", { ...put, url: floor.url, ids: floorIds }, WARMUP);
		const puts = await load.measure("PUT /api/clients/:id", { ...put, url: api, ids }, WARMUP);
		results.push(throughputResult("cluster `PUT /api/clients/:id`, 10 connections", rate(puts), rate(floorPuts), 0.5, problemOf(puts, floorPuts)));

		// 5. propagation at a steady offered rate
		const renames = RENAME_RATE * STEADY_SECONDS;
		progress("waiting for the goal service to apply everything so far");
		await settled(cluster, "the goal service to catch up with the PUTs");
		progress(`floor: ${renames} renames at ${RENAME_RATE}/s through pg + amqplib, after a 1 s warm-up`);
		const floorLatencies = await propagationFloor(floorDb, `${cluster.namespace}-floor-propagation`, floorIds, RENAME_RATE, renames);

		const goalsNodes = ["goals-1", "goals-2"];
		const before = await propagationHistogram(cluster, goalsNodes);
		const steady = await load.measure(
			`PUT /api/clients/:id at ${RENAME_RATE}/s`,
			{ method: "PUT", path: "/clients/{id}", body: '{"name":"Steady {i}"}', url: api, ids, concurrency: 1, count: renames, rate: RENAME_RATE },
			0,
		);
		await settled(cluster, "the goal service to apply the steady renames");
		const observed = difference(await propagationHistogram(cluster, goalsNodes), before);
		const bounds = observed.bounds.length > 0 ? observed.bounds : FALLBACK_BUCKETS;
		const floorHistogram = histogramOf(floorLatencies, bounds);
		const sortedFloor = [...floorLatencies].sort((a, b) => a - b);
		const [p50, p99, floorP50, floorP99] = [quantile(observed, 0.5), quantile(observed, 0.99), quantile(floorHistogram, 0.5), quantile(floorHistogram, 0.99)];
		progress(`propagation: ${observed.count} observed, p50 ${ms(p50)}, p99 ${ms(p99)}; floor p50 ${ms(floorP50)}, p99 ${ms(floorP99)}`);
		// refusals under an offered rate are a result (the cluster cannot carry it), not a broken benchmark
		const refused = failures(steady) ? `${failures(steady)} under the offered rate` : undefined;
		const tooFew = observed.count < steady.ok * 0.9 ? `only ${observed.count} of ${steady.ok} renames observed live` : undefined;
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
		notes.push(`requests per case: ${REQUESTS} after a warm-up of ${WARMUP}, over ${CLIENTS} clients`);
	} catch (err) {
		loud(`bench/cluster.ts failed: ${(err as Error).stack ?? err}\n${cluster.logs().slice(-4000)}`);
		process.exitCode = 1;
	} finally {
		load?.close();
		await floor?.stop().catch(() => undefined);
		await cluster.tearDown().catch((err: Error) => progress(`cluster teardown: ${err.message}`));
		if (floorDb) await dropDatabase(floorDbName).catch((err: Error) => progress(`dropping ${floorDbName}: ${err.message}`));
	}
	if (results.length === 0) return;
	printResults("Cluster: api, clients, goals ×2 (PostgreSQL, Redis, RabbitMQ)", results, notes);
	if (process.exitCode !== 1) process.exitCode = exitCodeFor(results);
}

if (require.main === module) void main();
