/**
 * The embedded node (one process, SQLite, Memory cacher) over REST, next to floors measured in
 * the same run by the bare libraries in a process of their own:
 *
 * 1. `POST /api/clients`, 10 connections, vs node:http + `sqlite3`, one transaction per request
 *    (WAL, synchronous=FULL, BEGIN IMMEDIATE; a client row and an event row; COMMIT): ratio >= 1.0.
 * 3. `GET /api/clients/:id` (cached), 20 connections, vs node:http answering a small fixed JSON:
 *    ratio >= 0.5.
 * 6. RSS of the embedded node after those runs (/proc/<pid>/status VmRSS), next to the floor
 *    server's after the same requests: <= 150 MiB.
 *
 * Beside each, the peer (bench/peer/embedded.ts): what a user would write instead, plain
 * moleculer-web and Moleculer in one process, a cached action (MemoryLRU) and `sqlite3`; and the
 * CPU ms per request of each server's process (/proc/<pid>/stat, bench/proc.ts). Floor, project
 * and peer alternate round by round.
 *
 * The load generator runs in its own process (bench/load.ts). `--smoke` or BENCH_SMOKE=1: tiny runs.
 */
import path from "node:path";
import { removeDir, tempDataDir } from "../test/helpers/system";
import { startEmbeddedPeer, startEmbeddedProject, startFloorServer, type FloorServer } from "./floors";
import {
	boundResult,
	cpuText,
	describeRate,
	exitCodeFor,
	loud,
	type PeerRow,
	printPeerTable,
	printResults,
	progress,
	quotient,
	type Result,
	size,
	SMOKE,
	throughputResult,
} from "./lib";
import { failures, LoadGenerator, type LoadResult, type LoadSpec, type RoundCase } from "./load";
import { CpuAccount, untilQuiet } from "./proc";
import { sqlitePropagationFloor } from "./sqlite-propagation-floor";

const WRITES = size(4000, 150);
/** long enough for the JIT: the first ~1,000 writes of a fresh node run at half speed */
const WRITE_WARMUP = size(1500, 20);
const READS = size(20_000, 1000);
const READ_WARMUP = size(2000, 100);
const READ_IDS = 50;
const RSS_BOUND_MIB = 150;
/** renames per second offered for the embedded propagation, every TIMED_EVERY-th timed from its answer until a GET shows it */
const PROPAGATION_RATE = 200;
const PROPAGATION_RENAMES = size(2000, 60);
const PROPAGATION_CLIENTS = 20;
const TIMED_EVERY = 20;
/** the issue's target: a rename on the goal's copy within 5 ms (p99), in the one process */
const PROPAGATION_BOUND_MS = 5;
/** figure and floor alternate in this many rounds (the machine's speed drifts during a run) */
const ROUNDS = SMOKE ? 1 : 4;

const rate = (r: LoadResult) => ({ value: r.perSecond, text: describeRate(r.perSecond, "req/s", r.p50, r.p99) });
const problemOf = (...runs: LoadResult[]) => ({ problem: runs.map(failures).filter(Boolean).join("; ") || undefined });

/**
 * One server measured in the rounds: its spec, and the CPU its process spends in them. After
 * each round (and warm-up) the process is left to go quiet, so that what a request left behind
 * (the goal service applying `client.created`) is counted with it and not in the next round.
 */
function measuredCase(label: string, spec: LoadSpec, pid: number): RoundCase & { cpu: CpuAccount } {
	const cpu = new CpuAccount([{ label: "process", pids: () => [pid] }]);
	const after = async (measured: boolean) => {
		if (!(await untilQuiet([pid]))) progress(`${label}: the process did not go quiet after its round`);
		if (measured) await cpu.stop();
	};
	return { label, spec, cpu, before: () => cpu.start(), after };
}

const cpuPer = (c: { cpu: CpuAccount }, r: LoadResult) => c.cpu.msPer("process", r.ok);
const rateText = (r: LoadResult) => describeRate(r.perSecond, "req/s", r.p50, r.p99);

async function main(): Promise<void> {
	const dataDir = tempDataDir();
	let system: FloorServer | undefined;
	let floor: FloorServer | undefined;
	let peer: FloorServer | undefined;
	let load: LoadGenerator | undefined;
	const results: Result[] = [];
	const peerRows: PeerRow[] = [];
	let floorCpu = "";
	let peerProblem: string | undefined;
	try {
		progress(`embedded node (SQLite, Memory cacher), the sqlite3 floor server and the embedded peer${SMOKE ? " — smoke mode" : ""}`);
		system = await startEmbeddedProject(dataDir);
		floor = await startFloorServer("sqlite", path.join(dataDir, "floor.sqlite"));
		peer = await startEmbeddedPeer(dataDir);
		load = LoadGenerator.start();

		// 1. writes
		const write = { method: "POST" as const, path: "/clients", concurrency: 10, count: WRITES };
		const writeCases = [
			measuredCase("floor POST /clients", { ...write, url: floor.url, body: '{"name":"Floor {i}","email":"floor{i}@bench.test"}' }, floor.pid),
			measuredCase("POST /api/clients", { ...write, url: system.url, body: '{"name":"Bench {i}","email":"bench{i}@bench.test"}' }, system.pid),
			measuredCase("peer POST /api/clients", { ...write, url: peer.url, body: '{"name":"Peer {i}","email":"peer{i}@bench.test"}' }, peer.pid),
		];
		const [floorWrites, writes, peerWrites] = await load.measureRounds(writeCases, WRITE_WARMUP, ROUNDS);
		results.push(throughputResult("embedded `POST /api/clients`, 10 connections", rate(writes), rate(floorWrites), 1.0, problemOf(writes, floorWrites)));

		// 3. cached reads of clients that exist (made by the writes above)
		const ids = Array.from({ length: READ_IDS }, (_, i) => i + 1);
		const read = { method: "GET" as const, path: "/clients/{id}", ids, concurrency: 20, count: READS };
		const readCases = [
			measuredCase("floor GET fixed JSON", { ...read, url: floor.url }, floor.pid),
			measuredCase("GET /api/clients/:id", { ...read, url: system.url }, system.pid),
			measuredCase("peer GET /api/clients/:id", { ...read, url: peer.url }, peer.pid),
		];
		const [floorReads, reads, peerReads] = await load.measureRounds(readCases, READ_WARMUP, ROUNDS);
		results.push(
			throughputResult("embedded `GET /api/clients/:id` (cached), 20 connections", rate(reads), rate(floorReads), 0.5, problemOf(reads, floorReads)),
		);

		// 4. propagation in the one process: a rename answered → GET /api/goals/:id shows the new name
		const goals: Array<[number, number]> = [];
		for (const clientId of ids.slice(0, PROPAGATION_CLIENTS)) {
			const res = await fetch(`${system.url}/goals`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ clientId, goalName: "Propagation", targetAmount: 100 }),
			});
			if (res.status !== 201) throw new Error(`creating a goal of client ${clientId} answered ${res.status}: ${await res.text()}`);
			goals.push([clientId, ((await res.json()) as { id: number }).id]);
		}
		progress(`embedded: ${PROPAGATION_RENAMES} renames at ${PROPAGATION_RATE}/s, every ${TIMED_EVERY}th timed until GET /api/goals/:id shows it`);
		const propagated = await load.propagation({
			url: system.url,
			rate: PROPAGATION_RATE,
			count: PROPAGATION_RENAMES,
			ids: goals.map(([clientId]) => clientId),
			goals,
			every: TIMED_EVERY,
			namePrefix: "Embedded",
			pollMs: 1,
			timeoutMs: 5000,
		});
		progress(`floor: ${PROPAGATION_RENAMES} renames at ${PROPAGATION_RATE}/s through sqlite3 alone, from one file's commit to the copy's in another`);
		const floorLatencies = await sqlitePropagationFloor(dataDir, PROPAGATION_RATE, PROPAGATION_RENAMES);
		const at = (sorted: number[], p: number) => (sorted.length > 0 ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : Number.NaN);
		const timed = propagated.latencies;
		const propagationText = `p50 ${at(timed, 50).toFixed(1)} ms, p99 ${at(timed, 99).toFixed(1)} ms (${timed.length} timed${propagated.lost > 0 ? `, ${propagated.lost} never seen` : ""}; ${propagated.renames.perSecond.toFixed(0)} renames/s answered)`;
		results.push(
			boundResult(
				`embedded propagation at ${PROPAGATION_RATE} renames/s offered: rename answered → \`GET /api/goals/:id\` shows it (floor: \`sqlite3\`, one file's commit → the copy's in another)`,
				{ value: propagated.lost > 0 ? Number.POSITIVE_INFINITY : at(timed, 99), text: propagationText },
				{ value: at(floorLatencies, 99), text: `p50 ${at(floorLatencies, 50).toFixed(1)} ms, p99 ${at(floorLatencies, 99).toFixed(1)} ms` },
				{ value: PROPAGATION_BOUND_MS, text: `p99 <= ${PROPAGATION_BOUND_MS} ms` },
			),
		);

		// 6. memory after the runs
		const rss = system.rss() ?? Number.NaN;
		const floorRss = floor.rss();
		const peerRss = peer.rss();
		results.push(
			boundResult(
				"RSS of the embedded node after the runs",
				{ value: rss, text: `${rss.toFixed(1)} MiB` },
				{ value: floorRss, text: floorRss === null ? "n/a" : `${floorRss.toFixed(1)} MiB` },
				{ value: RSS_BOUND_MIB, text: `<= ${RSS_BOUND_MIB} MiB` },
			),
		);

		// the same cases beside the peer
		const cpu = cpuPer;
		peerRows.push(
			{
				case: "embedded `POST /api/clients`, 10 connections",
				project: rateText(writes),
				peer: rateText(peerWrites),
				ratio: quotient(writes.perSecond, peerWrites.perSecond),
			},
			{
				case: "embedded `POST /api/clients`: CPU ms per request (the server's process)",
				project: cpuText(cpu(writeCases[1], writes)),
				peer: cpuText(cpu(writeCases[2], peerWrites)),
				ratio: quotient(cpu(writeCases[1], writes), cpu(writeCases[2], peerWrites)),
			},
			{
				case: "embedded `GET /api/clients/:id` (cached), 20 connections",
				project: rateText(reads),
				peer: rateText(peerReads),
				ratio: quotient(reads.perSecond, peerReads.perSecond),
			},
			{
				case: "embedded `GET /api/clients/:id`: CPU ms per request (the server's process)",
				project: cpuText(cpu(readCases[1], reads)),
				peer: cpuText(cpu(readCases[2], peerReads)),
				ratio: quotient(cpu(readCases[1], reads), cpu(readCases[2], peerReads)),
			},
			{
				case: "RSS of the embedded node after the runs",
				project: `${rss.toFixed(1)} MiB`,
				peer: peerRss === null ? "n/a" : `${peerRss.toFixed(1)} MiB`,
				ratio: quotient(rss, peerRss),
			},
		);
		floorCpu = `the floor's process: ${cpuText(cpu(writeCases[0], floorWrites))} CPU ms per POST, ${cpuText(cpu(readCases[0], floorReads))} per GET`;
		peerProblem = problemOf(peerWrites, peerReads).problem;
	} catch (err) {
		loud(`bench/http.ts failed: ${(err as Error).stack ?? err}`);
		process.exitCode = 1;
	} finally {
		load?.close();
		await floor?.stop().catch(() => undefined);
		await peer?.stop().catch(() => undefined);
		await system?.stop().catch(() => undefined);
		removeDir(dataDir);
	}
	if (results.length === 0) return;
	printResults("Embedded node over REST (one process, SQLite)", results, [
		"floor: node:http + the bare library doing the same work, in a process of its own; the load generator is a third process",
		"ratio: figure ÷ floor for throughputs, floor ÷ figure for memory (1.00 = as good as the bare libraries)",
		`requests per case: ${WRITES} writes, ${READS} reads, each after a warm-up that is not counted, in ${ROUNDS} rounds alternating with the floor's and the peer's (p50/p99: the rounds' median)`,
	]);
	printPeerTable("Embedded node beside the peer (plain moleculer-web + Moleculer, MemoryLRU cacher, sqlite3; one process)", peerRows, [
		"project/peer: the plain quotient (req/s below 1: the project is slower; CPU ms and MiB above 1: it costs more)",
		"CPU: utime + stime of the server's process from /proc/<pid>/stat over its measured rounds, ÷ its 2xx answers; each server runs compiled, as `npm start` runs the project (bench/compiled.ts)",
		floorCpu,
	]);
	if (peerProblem) {
		// a peer that fails requests makes every quotient above a lie
		loud(`bench/http.ts: the peer failed requests: ${peerProblem}`);
		process.exitCode = 1;
	}
	if (process.exitCode !== 1) process.exitCode = exitCodeFor(results);
}

void main();
