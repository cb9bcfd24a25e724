/**
 * REST throughput and latency in one process (SQLite, Memory cacher), next to a baseline from
 * the same gateway in the same run: GET /api/health, which crosses moleculer-web and the broker
 * but touches no database. The difference is what our write and read paths cost.
 */
import { removeDir, startSystem } from "../test/helpers/system";
import { measure, printTable, progress } from "./lib";

const N = Number(process.argv[2] ?? 1000);

async function main(): Promise<void> {
	const system = await startSystem();
	const json = { "content-type": "application/json" };
	const post = (path: string, body: unknown) => fetch(system.url + path, { method: "POST", headers: json, body: JSON.stringify(body) });
	try {
		progress(`baseline: ${N} × GET /api/health`);
		const baseline = await measure(N, 10, async () => void (await (await fetch(`${system.url}/health`)).text()));

		progress(`${N} × POST /api/clients (concurrency 1)`);
		const createSerial = await measure(N, 1, async (i) => void (await (await post("/clients", { name: `S${i}`, email: `s${i}@bench.test` })).text()));

		progress(`${N} × POST /api/clients (concurrency 10)`);
		const createParallel = await measure(N, 10, async (i) => void (await (await post("/clients", { name: `P${i}`, email: `p${i}@bench.test` })).text()));

		progress(`${N} × POST /api/goals (concurrency 10)`);
		const goals = await measure(N, 10, async (i) => void (await (await post("/goals", { clientId: (i % 100) + 1, goalName: `G${i}`, targetAmount: 100.25 })).text()));

		progress(`${N} × GET /api/clients/:id (concurrency 10, cached after first read)`);
		const reads = await measure(N, 10, async (i) => void (await (await fetch(`${system.url}/clients/${(i % 50) + 1}`)).text()));

		const mem = process.memoryUsage();
		printTable(`REST in one process, SQLite (${N} operations per case)`, [
			["baseline GET /health (c=10)", baseline],
			["POST /clients (c=1)", createSerial],
			["POST /clients (c=10)", createParallel],
			["POST /goals (c=10, sync client check)", goals],
			["GET /clients/:id (c=10, cached)", reads],
		]);
		console.log(`\nRSS ${(mem.rss / 1048576).toFixed(0)} MiB, heap used ${(mem.heapUsed / 1048576).toFixed(0)} MiB`);
	} finally {
		await system.stop();
		removeDir(system.dataDir);
	}
}

void main();
