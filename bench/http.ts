/**
 * The embedded node (one process, SQLite, Memory cacher) over REST, next to floors measured in
 * the same run by the bare libraries in a process of their own:
 *
 * 1. `POST /api/clients`, 10 connections, vs node:http + `sqlite3`, one transaction per request
 *    (WAL, synchronous=FULL, BEGIN IMMEDIATE; a client row and an event row; COMMIT): ratio >= 1.0.
 * 3. `GET /api/clients/:id` (cached), 20 connections, vs node:http answering a small fixed JSON:
 *    ratio >= 0.5.
 * 6. RSS of the embedded node after those runs (process.memoryUsage().rss), next to the floor
 *    server's after the same requests: <= 150 MiB.
 *
 * The load generator runs in its own process (bench/load.ts). `--smoke` or BENCH_SMOKE=1: tiny runs.
 */
import path from "node:path";
import { removeDir, startSystem, type TestSystem } from "../test/helpers/system";
import { startFloorServer, type FloorServer } from "./floors";
import { boundResult, describeRate, exitCodeFor, loud, mib, printResults, progress, type Result, size, SMOKE, throughputResult } from "./lib";
import { failures, LoadGenerator, type LoadResult } from "./load";

const WRITES = size(4000, 150);
/** long enough for the JIT: the first ~1,000 writes of a fresh node run at half speed */
const WRITE_WARMUP = size(1500, 20);
const READS = size(20_000, 1000);
const READ_WARMUP = size(2000, 100);
const READ_IDS = 50;
const RSS_BOUND_MIB = 150;
/** figure and floor alternate in this many rounds (the machine's speed drifts during a run) */
const ROUNDS = SMOKE ? 1 : 4;

const rate = (r: LoadResult) => ({ value: r.perSecond, text: describeRate(r.perSecond, "req/s", r.p50, r.p99) });
const problemOf = (...runs: LoadResult[]) => ({ problem: runs.map(failures).filter(Boolean).join("; ") || undefined });

async function main(): Promise<void> {
	let system: TestSystem | undefined;
	let floor: FloorServer | undefined;
	let load: LoadGenerator | undefined;
	const results: Result[] = [];
	try {
		progress(`embedded node (SQLite, Memory cacher) and the sqlite3 floor server${SMOKE ? " — smoke mode" : ""}`);
		system = await startSystem();
		floor = await startFloorServer("sqlite", path.join(system.dataDir, "floor.sqlite"));
		load = LoadGenerator.start();

		// 1. writes
		const write = { method: "POST" as const, path: "/clients", concurrency: 10, count: WRITES };
		const [floorWrites, writes] = await load.measureAlternating(
			{ label: "floor POST /clients", spec: { ...write, url: floor.url, body: '{"name":"Floor {i}","email":"floor{i}@bench.test"}' } },
			{ label: "POST /api/clients", spec: { ...write, url: system.url, body: '{"name":"Bench {i}","email":"bench{i}@bench.test"}' } },
			WRITE_WARMUP,
			ROUNDS,
		);
		results.push(throughputResult("embedded `POST /api/clients`, 10 connections", rate(writes), rate(floorWrites), 1.0, problemOf(writes, floorWrites)));

		// 3. cached reads of clients that exist (made by the writes above)
		const ids = Array.from({ length: READ_IDS }, (_, i) => i + 1);
		const read = { method: "GET" as const, path: "/clients/{id}", ids, concurrency: 20, count: READS };
		const [floorReads, reads] = await load.measureAlternating(
			{ label: "floor GET fixed JSON", spec: { ...read, url: floor.url } },
			{ label: "GET /api/clients/:id", spec: { ...read, url: system.url } },
			READ_WARMUP,
			ROUNDS,
		);
		results.push(
			throughputResult("embedded `GET /api/clients/:id` (cached), 20 connections", rate(reads), rate(floorReads), 0.5, problemOf(reads, floorReads)),
		);

		// 6. memory after the runs
		const rss = mib(process.memoryUsage().rss);
		const floorRss = floor.rss();
		results.push(
			boundResult(
				"RSS of the embedded node after the runs",
				{ value: rss, text: `${rss.toFixed(1)} MiB` },
				{ value: floorRss, text: floorRss === null ? "n/a" : `${floorRss.toFixed(1)} MiB` },
				{ value: RSS_BOUND_MIB, text: `<= ${RSS_BOUND_MIB} MiB` },
			),
		);
	} catch (err) {
		loud(`bench/http.ts failed: ${(err as Error).stack ?? err}`);
		process.exitCode = 1;
	} finally {
		load?.close();
		await floor?.stop().catch(() => undefined);
		if (system) {
			await system.stop().catch(() => undefined);
			removeDir(system.dataDir);
		}
	}
	if (results.length === 0) return;
	printResults("Embedded node over REST (one process, SQLite)", results, [
		"floor: node:http + the bare library doing the same work, in a process of its own; the load generator is a third process",
		"ratio: figure ÷ floor for throughputs, floor ÷ figure for memory (1.00 = as good as the bare libraries)",
		`requests per case: ${WRITES} writes, ${READS} reads, each after a warm-up that is not counted, in ${ROUNDS} rounds alternating with the floor's (p50/p99: the rounds' median)`,
	]);
	if (process.exitCode !== 1) process.exitCode = exitCodeFor(results);
}

void main();
