/**
 * `node --import tsx bench/syscalls.ts`: round trips per request, counted rather than timed.
 * The same POST /api/goals and PUT /api/clients/:id load on the project's cluster and on the
 * peer's, and for each node process the write system calls it made per request (/proc/<pid>/io
 * `syscw`: every socket write is one, to PostgreSQL, RabbitMQ, Redis or the HTTP client). Unlike
 * CPU time, this count does not depend on how loaded the machine is.
 */
import { readFileSync } from "node:fs";
import { Cluster } from "../test/helpers/cluster";
import { LoadGenerator, type LoadSpec } from "./load";
import { PeerCluster } from "./peer/cluster";

const REQUESTS = Number(process.argv[process.argv.indexOf("--requests") + 1]) || 1000;

function writes(pid: number): number {
	const io = readFileSync(`/proc/${pid}/io`, "utf8");
	return Number(/syscw:\s*(\d+)/.exec(io)?.[1] ?? Number.NaN);
}

async function settle(): Promise<void> {
	await new Promise((resolve) => setTimeout(resolve, 3000));
}

async function measure(load: LoadGenerator, pids: Map<string, number>, spec: LoadSpec): Promise<Map<string, number>> {
	const before = new Map([...pids].map(([name, pid]) => [name, writes(pid)]));
	const result = await load.run(spec);
	await settle();
	if (result.failed > 0) console.error(`${spec.method} ${spec.path}: ${result.failed} failed ${JSON.stringify(result.statuses)}`);
	return new Map([...pids].map(([name, pid]) => [name, (writes(pid) - (before.get(name) ?? 0)) / result.ok]));
}

async function main(): Promise<void> {
	const load = LoadGenerator.start();
	const project = new Cluster({ DB_POOL_MAX: "5" });
	const peer = new PeerCluster();
	const rows: string[] = [];
	try {
		await project.setUp();
		const asStarted = { compiled: true };
		await project.start("clients-1", "clients", {}, asStarted);
		await Promise.all([project.start("goals-1", "goals", {}, asStarted), project.start("goals-2", "goals", {}, asStarted)]);
		const api = await project.startApi("api-1", {}, asStarted);
		await peer.start();
		const systems = [
			{
				label: "project",
				url: api,
				pids: new Map([...project.nodes].map(([name, node]) => [name, node.child.pid as number])),
				ids: async () => (await project.query<{ id: number }>("clients", "SELECT id FROM clients")).map((row) => row.id),
			},
			{ label: "peer", url: peer.url, pids: peer.pids(), ids: () => peer.clientIds() },
		];
		for (const system of systems) {
			await load.run({
				url: system.url,
				method: "POST",
				path: "/clients",
				body: `{"name":"Seed {i}","email":"seed{i}-${system.label}@example.com"}`,
				concurrency: 10,
				count: 200,
			});
			const ids = await system.ids();
			const post = await measure(load, system.pids, {
				url: system.url,
				method: "POST",
				path: "/goals",
				body: '{"clientId":{id},"goalName":"Goal {i}","targetAmount":100}',
				ids,
				concurrency: 10,
				count: REQUESTS,
			});
			const put = await measure(load, system.pids, {
				url: system.url,
				method: "PUT",
				path: "/clients/{id}",
				body: '{"name":"Renamed {i}"}',
				ids,
				concurrency: 10,
				count: REQUESTS,
			});
			for (const [name] of system.pids) rows.push(`| ${system.label} | ${name} | ${post.get(name)?.toFixed(2)} | ${put.get(name)?.toFixed(2)} |`);
			rows.push(
				`| ${system.label} | **all nodes** | ${[...post.values()].reduce((a, b) => a + b, 0).toFixed(2)} | ${[...put.values()].reduce((a, b) => a + b, 0).toFixed(2)} |`,
			);
		}
	} finally {
		load.close();
		await project.tearDown();
		await peer.tearDown();
	}
	console.log(["| system | node | write syscalls per POST /api/goals | per PUT /api/clients/:id |", "| --- | --- | ---: | ---: |", ...rows].join("\n"));
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
