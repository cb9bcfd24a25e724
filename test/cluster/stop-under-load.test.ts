/**
 * Stop under load (issue 10, must-show 4): SIGTERM to a goals replica while events are queued
 * for it. It exits 0 within 10 s without a GracefulStopTimeoutError, whatever it acked is
 * applied, and the rest is applied by the other replica: the goal service's copy of the clients
 * ends equal to the client service's truth. Periodic catch-up is off, so only live delivery can
 * bring the copy there. The same for the gateway: SIGTERM while requests flow through it answers
 * every request it took and exits 0 without a GracefulStopTimeoutError. (A second signal exits
 * at once: unit/graceful-stop.) Real processes, RabbitMQ, Redis, PostgreSQL.
 */
import { Cluster, clientsAndCopies, copiesConverge } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra, listQueues } from "../helpers/infra";
import type { NodeProcess } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(180_000);

const RENAMES = 300;

/** SIGTERM, and how it went: exit code and ms to exit. */
async function stopTimed(node: NodeProcess): Promise<{ exit: number | NodeJS.Signals; withinTenSeconds: boolean }> {
	const started = Date.now();
	const exit = await node.stop();
	const ms = Date.now() - started;
	console.log(`${node.name} stopped: exit ${exit} after ${ms} ms`);
	return { exit, withinTenSeconds: ms < 10_000 };
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "replicas stopped under load", () => {
	// catch-up only at start: a copy that converges got every event live
	const cluster = new Cluster({ CATCHUP_INTERVAL: "3600000" });
	let api: ReturnType<typeof client>;
	const ids: number[] = [];

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		await cluster.start("goals-1", "goals");
		await cluster.start("goals-2", "goals");
		api = client(await cluster.startApi("api-1"));
		for (let i = 0; i < 20; i++) {
			const res = await api.post("/clients", { name: `Load ${i}`, email: `load${i}-${cluster.namespace}@example.com` });
			expect(res.status).toBe(201);
			ids.push(res.body.id);
		}
	});
	afterAll(() => cluster.tearDown());

	test("SIGTERM to a goals replica with 100+ events queued: exit 0 within 10 s, no GracefulStopTimeoutError, the copy converges", async () => {
		const [goalsOne, goalsTwo] = ["goals-1", "goals-2"].map((name) => cluster.nodes.get(name) as NodeProcess);
		await waitFor(async () => (await clientsAndCopies(cluster)).copy.length === ids.length, { timeoutMs: 20_000, what: "the copies of the first clients" });
		// both replicas frozen: the renames pile up in the shared queue (and in each one's prefetch)
		goalsOne.child.kill("SIGSTOP");
		goalsTwo.child.kill("SIGSTOP");
		try {
			let sent = 0;
			await Promise.all(
				Array.from({ length: 10 }, async () => {
					for (let i = sent++; i < RENAMES; i = sent++) {
						const res = await api.put(`/clients/${ids[i % ids.length]}`, { name: `Renamed ${i}` });
						expect(res.status).toBe(200);
					}
				}),
			);
			const queued = (await listQueues(`MOL-${cluster.namespace}.EVENTB.goals.client.updated`))[0]?.messages ?? 0;
			console.log(`events queued for the goals replicas: ${queued}`);
			expect(queued).toBeGreaterThanOrEqual(100);
		} finally {
			// goals-1 wakes up to its SIGTERM with its prefetch in hand; goals-2 a moment later
			goalsOne.child.kill("SIGCONT");
		}
		const stopped = stopTimed(goalsOne);
		setTimeout(() => goalsTwo.child.kill("SIGCONT"), 200);
		expect(await stopped).toEqual({ exit: 0, withinTenSeconds: true });
		cluster.nodes.delete("goals-1");
		expect(goalsOne.output()).not.toContain("GracefulStopTimeoutError");

		await copiesConverge(cluster);
	});

	test("SIGTERM to the gateway while requests flow through it: each request it took answered 200, exit 0 within 10 s, no GracefulStopTimeoutError", async () => {
		const gateway = cluster.nodes.get("api-1") as NodeProcess;
		const answers: Record<string, number> = {};
		let stopped: ReturnType<typeof stopTimed> | undefined;
		let sent = 0;
		await Promise.all(
			Array.from({ length: 10 }, async () => {
				for (let i = sent++; ; i = sent++) {
					const status = await api
						.put(`/clients/${ids[i % ids.length]}`, { name: `Gateway ${i}` })
						.then((res) => String(res.status))
						.catch(() => "refused");
					answers[status] = (answers[status] ?? 0) + 1;
					if (status === "refused") return;
					if (i === 100) stopped = stopTimed(gateway);
				}
			}),
		);
		console.log("answers while the gateway stopped:", answers);
		expect(Object.keys(answers).sort()).toEqual(["200", "refused"]);
		expect(await stopped).toEqual({ exit: 0, withinTenSeconds: true });
		cluster.nodes.delete("api-1");
		expect(gateway.output()).not.toContain("GracefulStopTimeoutError");
	});
});
