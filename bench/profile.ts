/**
 * `npm run profile`: where each node's CPU goes per request. Starts the cluster as the bench
 * does (api, clients, two goals replicas over the machine's PostgreSQL, Redis and RabbitMQ),
 * every node under `node --cpu-prof`, sends `POST /api/goals` and `PUT /api/clients/:id` at 10
 * connections, stops the nodes (a profile is written at a clean exit) and prints, per node, the
 * functions and the files that took the most self time, in ms per request.
 *
 * `--embedded`: the one-process system instead, under cached `GET /api/clients/:id` (5 × N).
 * `--requests N` (default 3000 of each), `--keep DIR` keeps the .cpuprofile files (open them in
 * Chrome's DevTools, Performance tab) instead of a temporary folder.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Cluster } from "../test/helpers/cluster";
import { freePort, startNode, waitHealthy } from "../test/helpers/node-process";
import { removeDir, tempDataDir } from "../test/helpers/system";
import { LoadGenerator } from "./load";

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	hitCount?: number;
}
interface CpuProfile {
	nodes: ProfileNode[];
	startTime: number;
	endTime: number;
	samples: number[];
	timeDeltas: number[];
}

function flag(name: string): string | undefined {
	const at = process.argv.indexOf(name);
	return at >= 0 ? process.argv[at + 1] : undefined;
}

const REQUESTS = Number(flag("--requests") ?? 3000);
const TOP = 25;

/** Self time per node id (µs), from the samples and their time deltas. */
function selfTimes(profile: CpuProfile): Map<number, number> {
	const self = new Map<number, number>();
	for (const [i, id] of profile.samples.entries()) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
	return self;
}

/** A file named by what a reader recognises: the package, or the project's own path. */
function shortFile(url: string): string {
	if (!url) return "(native/vm)";
	const clean = url.replace(/^file:\/\//, "");
	const nm = clean.lastIndexOf("node_modules/");
	if (nm >= 0) {
		const rest = clean.slice(nm + "node_modules/".length).split("/");
		return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
	}
	if (clean.startsWith("node:")) return clean;
	return path.relative(path.resolve(__dirname, ".."), clean);
}

function report(name: string, profile: CpuProfile, requests: number): string {
	const self = selfTimes(profile);
	const byFunction = new Map<string, number>();
	const byFile = new Map<string, number>();
	let total = 0;
	for (const node of profile.nodes) {
		const us = self.get(node.id) ?? 0;
		if (us === 0) continue;
		const fn = node.callFrame.functionName || "(anonymous)";
		const file = shortFile(node.callFrame.url);
		if (fn === "(idle)" || fn === "(program)" || fn === "(garbage collector)") {
			byFile.set(fn, (byFile.get(fn) ?? 0) + us);
			if (fn !== "(idle)") total += us;
			continue;
		}
		total += us;
		const key = `${fn} ${file}:${node.callFrame.lineNumber + 1}`;
		byFunction.set(key, (byFunction.get(key) ?? 0) + us);
		byFile.set(file, (byFile.get(file) ?? 0) + us);
	}
	const perRequest = (us: number) => (us / 1000 / requests).toFixed(3);
	const lines = [`## ${name}: ${perRequest(total)} ms busy per request (${(total / 1000).toFixed(0)} ms over ${requests} requests)`, "", "by file/package:"];
	for (const [file, us] of [...byFile]
		.filter(([f]) => f !== "(idle)")
		.sort((a, b) => b[1] - a[1])
		.slice(0, TOP))
		lines.push(`  ${perRequest(us).padStart(7)}  ${file}`);
	lines.push("", "by function (self):");
	for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP)) lines.push(`  ${perRequest(us).padStart(7)}  ${fn}`);
	return lines.join("\n");
}

/** `--embedded`: one process (SQLite, Memory cacher) as `npm start` runs it, under cached `GET /api/clients/:id` at 20 connections. */
async function profileEmbedded(dir: string): Promise<number> {
	const dataDir = tempDataDir();
	const port = await freePort();
	const node = startNode(
		"embedded",
		{ PORT: String(port), CLIENTS_DB_URI: `sqlite:${path.join(dataDir, "clients.sqlite")}`, GOALS_DB_URI: `sqlite:${path.join(dataDir, "goals.sqlite")}` },
		{ compiled: true, nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${path.join(dir, "embedded")}`] },
	);
	const api = `http://127.0.0.1:${port}/api`;
	const load = LoadGenerator.start();
	try {
		await waitHealthy(node, `${api}/health`);
		await load.run({ url: api, method: "POST", path: "/clients", body: '{"name":"Seed {i}","email":"seed{i}@example.com"}', concurrency: 10, count: 50 });
		const ids = Array.from({ length: 50 }, (_, i) => i + 1);
		const reads = await load.run({ url: api, method: "GET", path: "/clients/{id}", ids, concurrency: 20, count: REQUESTS * 5 });
		process.stderr.write(`cached GET ${reads.perSecond.toFixed(0)}/s ok ${reads.ok}\n`);
	} finally {
		load.close();
		await node.stop();
		removeDir(dataDir);
	}
	return REQUESTS * 5 + 50;
}

async function main(): Promise<void> {
	const keep = flag("--keep");
	const dir = keep ? path.resolve(keep) : mkdtempSync(path.join(os.tmpdir(), "cg-profile-"));
	mkdirSync(dir, { recursive: true });
	if (process.argv.includes("--embedded")) {
		const requests = await profileEmbedded(dir);
		printProfiles(dir, requests);
		if (!keep) rmSync(dir, { recursive: true, force: true });
		return;
	}
	const cluster = new Cluster({ DB_POOL_MAX: "5" });
	await cluster.setUp();
	const load = LoadGenerator.start();
	const asStarted = { compiled: true };
	try {
		const names = ["clients-1", "goals-1", "goals-2"];
		for (const name of names) {
			const service = name.replace(/-\d$/, "");
			await cluster.start(name, service, {}, { ...asStarted, nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${path.join(dir, name)}`] });
		}
		const api = await cluster.startApi("api-1", { RATE_LIMIT: "0" }, { ...asStarted, nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${path.join(dir, "api-1")}`] });
		process.stderr.write(`cluster up; seeding 200 clients\n`);
		const seed = await load.run({
			url: api,
			method: "POST",
			path: "/clients",
			body: `{"name":"Seed {i}","email":"seed{i}-${cluster.namespace}@example.com"}`,
			concurrency: 10,
			count: 200,
		});
		const page = (await (await fetch(`${api}/clients?pageSize=100`)).json()) as { rows: Array<{ id: number }> };
		const ids = page.rows.map((row) => row.id);
		process.stderr.write(`seeded ${seed.ok}; ${REQUESTS} POST /api/goals\n`);
		const goals = await load.run({
			url: api,
			method: "POST",
			path: "/goals",
			body: '{"clientId":{id},"goalName":"Goal {i}","targetAmount":100}',
			ids,
			concurrency: 10,
			count: REQUESTS,
		});
		process.stderr.write(`goals ${goals.perSecond.toFixed(0)}/s ok ${goals.ok}; ${REQUESTS} PUT /api/clients/:id\n`);
		const puts = await load.run({ url: api, method: "PUT", path: "/clients/{id}", body: '{"name":"Renamed {i}"}', ids, concurrency: 10, count: REQUESTS });
		process.stderr.write(`puts ${puts.perSecond.toFixed(0)}/s ok ${puts.ok}\n`);
	} finally {
		load.close();
		await cluster.tearDown();
	}
	printProfiles(dir, REQUESTS * 2 + 200);
	if (!keep) rmSync(dir, { recursive: true, force: true });
}

function printProfiles(dir: string, requests: number): void {
	for (const name of readdirSync(dir).sort()) {
		for (const file of readdirSync(path.join(dir, name)).filter((f) => f.endsWith(".cpuprofile"))) {
			const profile = JSON.parse(readFileSync(path.join(dir, name, file), "utf8")) as CpuProfile;
			console.log(`${report(name, profile, requests)}\n`);
		}
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
