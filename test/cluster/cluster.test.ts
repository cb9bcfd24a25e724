/**
 * The cluster as CONTRACT.md describes it: real node processes over the real RabbitMQ, Redis
 * and PostgreSQL, each run with its own namespace, databases and queues (removed afterwards).
 */
import { METRICS } from "../../lib/constants";
import { Cluster, clientsAndCopies } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra, listQueues } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

/** `count` client changes over REST: creates, renames and some deletes. Returns how many events they made. */
async function makeChanges(api: ReturnType<typeof client>, count: number, tag: string): Promise<number> {
	const ids: number[] = [];
	let events = 0;
	for (let i = 0; i < count; i++) {
		if (ids.length < 5 || i % 3 === 0) {
			const res = await api.post("/clients", { name: `${tag} ${i}`, email: `${tag}-${i}@example.com` });
			expect(res.status).toBe(201);
			ids.push(res.body.id);
		} else if (i % 10 === 1) {
			const id = ids.shift() as number;
			expect((await api.del(`/clients/${id}`)).status).toBe(204);
		} else {
			const id = ids[i % ids.length];
			expect((await api.put(`/clients/${id}`, { name: `${tag} ${i} renamed` })).status).toBe(200);
		}
		events++;
	}
	return events;
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "cluster over AMQP, Redis and PostgreSQL", () => {
	const cluster = new Cluster();
	let api: ReturnType<typeof client>;

	beforeAll(async () => {
		await cluster.setUp();
		await Promise.all([cluster.start("clients-1", "clients"), cluster.start("clients-2", "clients")]);
		await Promise.all([cluster.start("goals-1", "goals"), cluster.start("goals-2", "goals")]);
		api = client(await cluster.startApi("api-1"));
	}, 90_000);

	afterAll(async () => {
		await cluster.tearDown();
	}, 60_000);

	test("300 client changes: both goals replicas take a share, the copy equals the truth, no version applied twice", async () => {
		const events = await makeChanges(api, 300, "share");
		await waitFor(
			async () => {
				const { truth, copy } = await clientsAndCopies(cluster);
				return truth.length > 0 && JSON.stringify(truth) === JSON.stringify(copy);
			},
			{ timeoutMs: 20_000, intervalMs: 250, what: `goals' client copy to equal the clients table\n${cluster.logs()}` },
		);
		// counters move just after each commit: wait for the last ones, then check there is no extra
		const appliedPerNode = () => Promise.all(["goals-1", "goals-2"].map((node) => cluster.counter(node, METRICS.eventsApplied)));
		await waitFor(async () => (await appliedPerNode()).reduce((a, b) => a + b, 0) >= events, { timeoutMs: 5000, what: "the applied counters" });
		const applied = await appliedPerNode();
		expect(applied[0]).toBeGreaterThan(0);
		expect(applied[1]).toBeGreaterThan(0);
		// every (client, version) applied exactly once across the replicas: nothing lost, nothing twice
		expect(applied[0] + applied[1]).toBe(events);
	});

	test("all goals nodes down, 200 client changes, goals back: converged within 15 s", async () => {
		await Promise.all([cluster.stop("goals-1"), cluster.stop("goals-2")]);
		await makeChanges(api, 200, "offline");
		await Promise.all([cluster.start("goals-1", "goals"), cluster.start("goals-2", "goals")]);
		// 15 s from the moment both replicas have joined
		await waitFor(
			async () => {
				const { truth, copy } = await clientsAndCopies(cluster);
				return JSON.stringify(truth) === JSON.stringify(copy);
			},
			{ timeoutMs: 15_000, intervalMs: 250, what: `convergence after restart\n${cluster.logs()}` },
		);
	});

	test("RabbitMQ: group queues durable, x-message-ttl 24 h, no x-expires; messages persist while consumers are down", async () => {
		const queues = await listQueues(`MOL-${cluster.namespace}.EVENTB.`);
		const names = queues.map((q) => q.name).sort();
		for (const event of ["client.created", "client.updated", "client.deleted"]) {
			expect(names).toContain(`MOL-${cluster.namespace}.EVENTB.goals.${event}`);
		}
		for (const event of ["goal.created", "goal.updated", "goal.deleted"]) {
			expect(names).toContain(`MOL-${cluster.namespace}.EVENTB.clients.${event}`);
		}
		for (const queue of queues) {
			expect(queue.durable).toBe(true);
			expect(queue.arguments["x-message-ttl"]).toBe(86_400_000);
			expect(queue.arguments["x-expires"]).toBeUndefined();
		}

		await Promise.all([cluster.stop("goals-1"), cluster.stop("goals-2")]);
		const created = await api.post("/clients", { name: "Queued", email: "queued@example.com" });
		expect(created.status).toBe(201);
		const queueName = `MOL-${cluster.namespace}.EVENTB.goals.client.created`;
		const waiting = await waitFor(async () => (await listQueues(queueName)).find((q) => q.name === queueName && q.messages >= 1 && q.consumers === 0), {
			timeoutMs: 10_000,
			intervalMs: 250,
			what: "the event to wait in its queue",
		});
		expect(waiting.messages).toBeGreaterThanOrEqual(1);
		await Promise.all([cluster.start("goals-1", "goals"), cluster.start("goals-2", "goals")]);
		await waitFor(async () => (await listQueues(queueName)).find((q) => q.name === queueName && q.messages === 0), {
			timeoutMs: 15_000,
			intervalMs: 250,
			what: "the queue to drain",
		});
	});

	test("cache coherence: a read through one node after a write through another returns the new version", async () => {
		const created = await api.post("/clients", { name: "Cached", email: "cached@example.com" });
		const id: number = created.body.id;
		const goal = await api.post("/goals", { clientId: id, goalName: "Cached goal", targetAmount: 10 });
		const goalId: number = goal.body.id;
		for (let round = 1; round <= 20; round++) {
			// warm both nodes' view of the shared Redis cache, then write through the other node
			const [reader, writer] = round % 2 ? ["clients-1", "clients-2"] : ["clients-2", "clients-1"];
			await cluster.probe.call("clients.get", { id }, { nodeID: reader });
			await cluster.probe.call("goals.get", { id: goalId }, { nodeID: round % 2 ? "goals-1" : "goals-2" });
			const written = (await cluster.probe.call("clients.update", { id, name: `Cached ${round}` }, { nodeID: writer })) as {
				version: number;
			};
			const read = (await cluster.probe.call("clients.get", { id }, { nodeID: reader })) as { version: number; name: string };
			expect(read).toMatchObject({ version: written.version, name: `Cached ${round}` });
			// the goal's cached clientName is evicted by whichever goals replica applied the rename
			await waitFor(
				async () =>
					((await cluster.probe.call("goals.get", { id: goalId }, { nodeID: round % 2 ? "goals-2" : "goals-1" })) as { clientName: string }).clientName ===
					`Cached ${round}`,
				{ timeoutMs: 5000, what: `goal ${goalId} to show 'Cached ${round}'` },
			);
		}
	});

	test("a REPL node joined to the cluster calls clients.create on a remote node", async () => {
		const repl = await cluster.start("repl-1", "api", { PORT: "0" }, { repl: true });
		repl.child.stdin?.write("call clients.create --name Remy --email remy@example.com\n");
		await waitFor(() => /remy@example\.com/.test(repl.output()) && /version/.test(repl.output()), {
			timeoutMs: 15_000,
			what: `the REPL to print the created client\n${repl.output()}`,
		});
		const rows = await cluster.query<{ name: string }>("clients", `SELECT name FROM clients WHERE email = 'remy@example.com'`);
		expect(rows).toEqual([{ name: "Remy" }]);
		repl.child.stdin?.write("quit\n");
		expect(await repl.exited).toBe(0);
		cluster.nodes.delete("repl-1");
	});
});
