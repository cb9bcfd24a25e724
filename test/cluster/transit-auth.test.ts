/**
 * TRANSPORTER_SECRET (issue 9, item 2): real node processes (clients, goals, api) over the real
 * RabbitMQ, Redis and PostgreSQL, with the secret, and a rogue ServiceBroker on the same RabbitMQ
 * and namespace without it. The rogue's requests (an internal action, `$node.options`) get no
 * answer, its forged events change nothing, and the nodes count every packet they dropped. The
 * cluster's probe, which has the secret, works as any node does; and an event it sends with a
 * bad payload is dead-lettered by the schema check, not applied.
 *
 * "No answer" is decided by the nodes' own count: once the node that serves a request counted
 * the packet as dropped, no answer can come.
 */
import { randomUUID } from "node:crypto";
import { type Context, ServiceBroker } from "moleculer";
import { METRICS } from "../../lib/constants";
import { Cluster, clientsAndCopies } from "../helpers/cluster";
import { client, request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

const ADMIN_TOKEN = "an-admin-token-for-the-transit-auth-suite";

/** The parts of Moleculer's transit a hand-made request needs. */
interface Transit {
	request(ctx: Context): Promise<unknown>;
}

/** A request and what became of it. */
interface Sent {
	settled: boolean;
	outcome?: unknown;
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "packets between nodes authenticated with TRANSPORTER_SECRET", () => {
	const cluster = new Cluster();
	let apiBase: string;
	let api: ReturnType<typeof client>;
	let rogue: ServiceBroker;
	let owner: { id: number; name: string; email: string; version: number };
	let goal: { id: number };

	beforeAll(async () => {
		await cluster.setUp();
		await Promise.all([cluster.start("clients-1", "clients"), cluster.start("goals-1", "goals")]);
		apiBase = await cluster.startApi("api-1", { ADMIN_TOKEN });
		api = client(apiBase);
		owner = (await api.post("/clients", { name: "Ann", email: "ann.transit@example.com" })).body;
		goal = (await api.post("/goals", { clientId: owner.id, goalName: "House", targetAmount: 1000 })).body;
		expect(goal.id).toEqual(expect.any(Number));

		// same RabbitMQ, same namespace, no secret; its balancer off, as the nodes', so that its
		// events go to the consumer groups' queues
		rogue = new ServiceBroker({
			namespace: cluster.namespace,
			nodeID: `rogue-${process.pid}`,
			transporter: { type: "AMQP", options: { url: cluster.env().TRANSPORTER, autoDeleteQueues: false } },
			disableBalancer: true,
			logger: false,
		});
		await rogue.start();
	}, 90_000);

	afterAll(async () => {
		await rogue?.stop();
		await cluster.tearDown();
	}, 60_000);

	const rejected = (nodeID: string, type?: string) => cluster.counter(nodeID, METRICS.transitRejected, type ? { type } : {});

	/** A request packet for `action` (to `nodeID`, or to the action's shared queue), whatever the rogue's registry says. */
	function sendByHand(action: string, params: Record<string, unknown>, nodeID: string | null = null): Sent {
		const ctx = rogue.ContextFactory.create(rogue);
		ctx.setParams(params);
		ctx.action = { name: action };
		ctx.nodeID = nodeID;
		const sent: Sent = { settled: false };
		(rogue.transit as unknown as Transit).request(ctx).then(
			(value) => Object.assign(sent, { settled: true, outcome: value }),
			(err: unknown) => Object.assign(sent, { settled: true, outcome: err }),
		);
		return sent;
	}

	/** What a forged event could change: both services' tables and copies, and the goal over REST. */
	async function state() {
		return {
			clients: await clientsAndCopies(cluster),
			goals: await cluster.query("goals", "SELECT * FROM goals ORDER BY id"),
			goalCopies: await cluster.query("clients", "SELECT * FROM goal_projection ORDER BY 1"),
			goal: (await api.get(`/goals/${goal.id}`)).body,
		};
	}

	test("the rogue sees no node: every packet of the nodes is unreadable to it", async () => {
		// its DISCOVER and INFO at start, its heartbeats: dropped by every node
		await waitFor(async () => (await rejected("clients-1")) > 0, { timeoutMs: 20_000, what: "the rogue's first packets to be dropped" });
		expect(rogue.registry.nodes.get("clients-1")).toBeUndefined();
		await expect(rogue.call("clients.eventsAfter", { after: 0 })).rejects.toMatchObject({ name: "ServiceNotFoundError" });
	});

	test("its requests written by hand get no answer: eventsAfter, $node.options, a dead-letter retry", async () => {
		const before = { clients: await rejected("clients-1", "REQ"), goals: await rejected("goals-1", "REQ") };
		const calls = [
			sendByHand("clients.eventsAfter", { after: 0, limit: 10 }),
			sendByHand("$node.options", {}, "clients-1"),
			sendByHand("goals.retryDeadLetter", { id: 1 }),
		];
		await waitFor(async () => (await rejected("clients-1", "REQ")) >= before.clients + 2 && (await rejected("goals-1", "REQ")) >= before.goals + 1, {
			timeoutMs: 20_000,
			what: `the nodes to drop the rogue's requests\n${cluster.logs()}`,
		});
		// the node serving them is up and answers a node with the secret
		const page = (await cluster.probe.call("clients.eventsAfter", { after: 0, limit: 10 })) as { events: Array<{ clientEmail: string }> };
		expect(page.events.map((event) => event.clientEmail)).toContain(owner.email);
		const options = (await cluster.probe.call("$node.options", {}, { nodeID: "clients-1" })) as { namespace: string };
		expect(options.namespace).toBe(cluster.namespace);
		expect(calls.map((call) => call.settled)).toEqual([false, false, false]);
	});

	test("its forged events change nothing: a client.deleted that would cascade, a version 2^31-1 rename, a goal.deleted", async () => {
		const before = await state();
		const dropped = { goals: await rejected("goals-1", "EVENT"), clients: await rejected("clients-1", "EVENT") };
		const forged = {
			eventId: randomUUID(),
			source: "clients",
			timestamp: new Date().toISOString(),
			sequence: 2 ** 31 - 1,
			clientId: owner.id,
			clientName: "Ann",
			clientEmail: owner.email,
		};
		await rogue.emit("client.deleted", { ...forged, eventType: "DELETED", version: owner.version + 1 }, { groups: ["goals"] });
		await rogue.emit(
			"client.updated",
			{ ...forged, eventId: randomUUID(), eventType: "UPDATED", version: 2 ** 31 - 1, clientName: "Hacked" },
			{ groups: ["goals"] },
		);
		await rogue.emit(
			"goal.deleted",
			{
				eventId: randomUUID(),
				eventType: "DELETED",
				source: "goals",
				timestamp: new Date().toISOString(),
				sequence: 999,
				version: 2,
				goalId: goal.id,
				clientId: owner.id,
				goalName: "House",
				targetAmount: 1000,
			},
			{ groups: ["clients"] },
		);
		await waitFor(async () => (await rejected("goals-1", "EVENT")) >= dropped.goals + 2 && (await rejected("clients-1", "EVENT")) >= dropped.clients + 1, {
			timeoutMs: 20_000,
			what: `the nodes to drop the forged events\n${cluster.logs()}`,
		});
		expect(await state()).toEqual(before);
		expect(before.goal).toMatchObject({ id: goal.id, clientName: "Ann" });
	});

	test("every node counted what it dropped", async () => {
		for (const nodeID of ["clients-1", "goals-1", "api-1"]) expect(await rejected(nodeID)).toBeGreaterThan(0);
	});

	test("with the secret everything works as before: a rename reaches the goal's copy of its client", async () => {
		expect((await api.put(`/clients/${owner.id}`, { name: "Ann Renamed" })).status).toBe(200);
		await waitFor(async () => (await api.get(`/goals/${goal.id}`)).body.clientName === "Ann Renamed", {
			timeoutMs: 10_000,
			what: "client.updated to reach the goal service",
		});
		owner = (await api.get(`/clients/${owner.id}`)).body;
	});

	test("an event sent with the secret but a bad payload is dead-lettered with its reason, never applied", async () => {
		const before = await state();
		const bad = {
			eventId: randomUUID(),
			eventType: "DELETED",
			source: "clients",
			timestamp: new Date().toISOString(),
			sequence: 5,
			version: owner.version + 1,
			clientId: owner.id,
			clientName: "",
			clientEmail: owner.email,
		};
		await cluster.probe.emit("client.deleted", bad, { groups: ["goals"] });
		const letter = await waitFor(
			async () => {
				const res = await request("GET", `${apiBase}/admin/dead-letters?pageSize=100`, undefined, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
				expect(res.status).toBe(200);
				const rows = (Array.isArray(res.body) ? res.body : res.body.rows) as Array<{ consumer: string; lastError: string; event: { eventId?: string } }>;
				return rows.find((row) => row.event.eventId === bad.eventId);
			},
			{ timeoutMs: 10_000, intervalMs: 200, what: `the bad event's dead letter\n${cluster.logs()}` },
		);
		expect(letter).toMatchObject({ consumer: "goals", event: bad });
		expect(letter.lastError).toMatch(/InvalidEventError: .*'clientName'/);
		expect(await state()).toEqual(before);
		expect(await cluster.counter("goals-1", METRICS.eventsRejected)).toBe(1);
	});
});
