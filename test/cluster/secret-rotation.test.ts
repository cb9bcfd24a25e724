/**
 * TRANSPORTER_SECRET rotated without downtime (issue 21, part 4): a cluster of four nodes (api,
 * clients, two goals) over RabbitMQ, Redis and PostgreSQL goes through the three steps of a
 * rotation from secret A to secret B, one node at a time, under a steady writer:
 *
 *   A  →  A,B (B known, A still seals)  →  B,A (B seals, A still opens)  →  B
 *
 * Each node is replaced by one started with the step's TRANSPORTER_SECRET (it joins, then the old
 * one stops, SIGTERM: the way a rolling deploy restarts a node with new settings, and the only way
 * the single api and clients nodes restart without refusing a request). The test's probe, a node
 * too, is rotated first at each step. Every request is answered 2xx, no node drops a packet at
 * any step, and the goal service's copy of the clients ends equal to the truth. Then a node that
 * still holds only the retired secret A joins: its packets are dropped by every node as
 * `unknown-key`, counted, and logged naming it, once per 10 s.
 *
 * Dropped packets are read two ways: the nodes' counter (cg.transit.rejected, read from each
 * node before it stops and at the end), and their logs, where the first packet dropped from any
 * sender always gives a warning line.
 */
import { randomBytes } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { METRICS } from "../../lib/constants";
import { transitAuth, transitKey } from "../../lib/infra/transit-auth";
import { Cluster, copiesConverge } from "../helpers/cluster";
import { request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import type { NodeProcess } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(480_000);

const A = randomBytes(24).toString("hex");
const B = randomBytes(24).toString("hex");
/** TRANSPORTER_SECRET at each step: the start, then the rotation's three */
const STEPS = [A, `${A},${B}`, `${B},${A}`, B];
const ROLES = [
	{ role: "clients", services: "clients" },
	{ role: "goals1", services: "goals" },
	{ role: "goals2", services: "goals" },
	{ role: "api", services: "api" },
] as const;
/** one write every this many ms, while fewer than MAX_IN_FLIGHT wait (rolling-restart.test.ts says why) */
const EVERY_MS = 50;
const MAX_IN_FLIGHT = 8;

interface Tally {
	attempted: number;
	heldBack: number;
	statuses: Map<number, number>;
	/** what each non-2xx answer was, for the failure message */
	failures: string[];
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "TRANSPORTER_SECRET rotated one node at a time under a steady writer", () => {
	// LOG_LEVEL info: a node says at start which key seals and which open
	const cluster = new Cluster({ TRANSPORTER_SECRET: A, AMQP_PREFETCH: "8", LOG_LEVEL: "info" });
	/** every node process started, the replaced ones included (their logs are read at the end) */
	const incarnations: NodeProcess[] = [];
	/** drops counted by the nodes that were replaced, read just before each stopped */
	const droppedByReplaced = new Map<string, number>();
	/** the node currently playing each role */
	const current = new Map<string, string>();
	let apiUrl = "";
	let retired: ServiceBroker | undefined;
	const clientIds: number[] = [];

	beforeAll(async () => {
		await cluster.setUp();
		for (const { role, services } of ROLES) await startRole(role, services, 0);
		for (let i = 0; i < 4; i++) {
			const res = await request("POST", `${apiUrl}/clients`, { name: `Owner ${i}`, email: `owner${i}@example.com` });
			expect(res.status).toBe(201);
			clientIds.push(res.body.id);
		}
	}, 180_000);

	afterAll(async () => {
		await retired?.stop();
		await cluster.tearDown();
	}, 60_000);

	/** Start the node of `role` for `step`, with that step's TRANSPORTER_SECRET; an api node takes the writer's traffic from then on. */
	async function startRole(role: string, services: string, step: number): Promise<void> {
		const name = `${role}-s${step}`;
		const env = { TRANSPORTER_SECRET: STEPS[step] };
		if (services === "api") apiUrl = await cluster.startApi(name, env);
		else await cluster.start(name, services, env);
		incarnations.push(cluster.nodes.get(name)!);
		current.set(role, name);
	}

	/** Every packet a node dropped so far, whatever the reason. */
	const dropped = (nodeID: string, labels: Record<string, string> = {}) => cluster.counter(nodeID, METRICS.transitRejected, labels);

	/** Replace each node in turn by one holding the step's secret: the new one joins, then the old one stops. */
	async function rotate(step: number): Promise<void> {
		await cluster.replaceProbe(STEPS[step], `probe-${process.pid}-s${step}`);
		for (const { role, services } of ROLES) {
			const old = current.get(role)!;
			await startRole(role, services, step);
			droppedByReplaced.set(old, await dropped(old));
			expect(await cluster.nodes.get(old)!.stop()).toBe(0);
			cluster.nodes.delete(old);
		}
	}

	/** Create clients and goals and rename clients, at a steady pace, through whichever api node is current, until `done`. */
	async function steadyWriter(done: Promise<void>): Promise<Tally> {
		const tally: Tally = { attempted: 0, heldBack: 0, statuses: new Map(), failures: [] };
		const inFlight = new Set<Promise<void>>();
		let finished = false;
		void done.then(
			() => (finished = true),
			() => (finished = true),
		);
		while (!finished) {
			if (inFlight.size >= MAX_IN_FLIGHT) {
				tally.heldBack++;
				await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
				continue;
			}
			const i = tally.attempted++;
			const owner = clientIds[i % clientIds.length];
			const [method, path, body] = [
				["POST", "/clients", { name: `Writer ${i}`, email: `writer${i}@example.com` }],
				["POST", "/goals", { clientId: owner, goalName: `Goal ${i}`, targetAmount: 10 }],
				["PUT", `/clients/${owner}`, { name: `Owner renamed ${i}` }],
			][i % 3] as [string, string, object];
			const one = request(method, `${apiUrl}${path}`, body)
				.then((res) => {
					tally.statuses.set(res.status, (tally.statuses.get(res.status) ?? 0) + 1);
					if (res.status >= 300) tally.failures.push(`${method} ${path} ${res.status} ${JSON.stringify(res.body)}`);
				})
				.catch((err: Error) => {
					tally.statuses.set(0, (tally.statuses.get(0) ?? 0) + 1);
					tally.failures.push(`${method} ${path}: ${err.message}`);
				});
			inFlight.add(one);
			void one.finally(() => inFlight.delete(one));
			await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
		}
		await Promise.all(inFlight);
		return tally;
	}

	test("A → A,B → B,A → B, one node at a time: every request 2xx, no packet dropped by any node at any step", async () => {
		const rotation = (async () => {
			for (let step = 1; step < STEPS.length; step++) await rotate(step);
		})();
		const tally = await steadyWriter(rotation);
		await rotation;
		await copiesConverge(cluster);

		const nodesNow = [...current.values()];
		const droppedNow = new Map(await Promise.all(nodesNow.map(async (name) => [name, await dropped(name)] as const)));
		const dropLines = incarnations.flatMap((node) =>
			node
				.output()
				.split("\n")
				.filter((line) => line.includes("Dropped a")),
		);
		console.info(
			`secret rotation: ${tally.attempted} requests (${tally.heldBack} ticks held back), answered ${JSON.stringify(Object.fromEntries(tally.statuses))}; ` +
				`packets dropped by the replaced nodes ${JSON.stringify(Object.fromEntries(droppedByReplaced))}, by the current ones ${JSON.stringify(Object.fromEntries(droppedNow))}; ` +
				`${incarnations.length} node processes`,
		);
		expect(tally.failures).toEqual([]);
		expect([...tally.statuses.keys()].every((status) => status === 200 || status === 201)).toBe(true);
		expect(tally.attempted).toBeGreaterThan(100);
		expect([...droppedByReplaced.values(), ...droppedNow.values()].filter((n) => n !== 0)).toEqual([]);
		expect(droppedByReplaced.size).toBe(3 * ROLES.length);
		expect(dropLines).toEqual([]);
		// each node said which key seals and which open while it held two
		const keyA = transitKey(A).idText;
		const keyB = transitKey(B).idText;
		const lines = (name: string) => incarnations.find((node) => node.name === name)!.output();
		expect(lines("goals1-s1")).toContain(`packets sealed with key ${keyA}, opened with any of ${keyA}, ${keyB}`);
		expect(lines("goals1-s2")).toContain(`packets sealed with key ${keyB}, opened with any of ${keyB}, ${keyA}`);
	});

	test("a node holding only the retired secret: its packets dropped by every node as unknown-key, counted, logged naming it once per 10 s", async () => {
		const nodesNow = [...current.values()];
		for (const name of nodesNow) expect({ name, dropped: await dropped(name) }).toEqual({ name, dropped: 0 });
		const joinedAt = Date.now();
		retired = new ServiceBroker({
			namespace: cluster.namespace,
			nodeID: "retired-1",
			transporter: { type: "AMQP", options: { url: cluster.env().TRANSPORTER, autoDeleteQueues: false, queueOptions: { durable: false } } },
			middlewares: [transitAuth(A)],
			logger: false,
		});
		await retired.start();
		// its DISCOVER and INFO at start, then a heartbeat every few seconds: seen by every node
		await waitFor(async () => (await Promise.all(nodesNow.map((name) => dropped(name, { reason: "unknown-key" })))).every((n) => n >= 2), {
			timeoutMs: 30_000,
			intervalMs: 250,
			what: `every node to drop the retired node's packets\n${cluster.logs()}`,
		});
		// and a burst of more: each one counted, none logged again within the 10 s
		const before = new Map(await Promise.all(nodesNow.map(async (name) => [name, await dropped(name, { reason: "unknown-key" })] as const)));
		const transit = retired.transit as unknown as { discoverNodes(): Promise<void> };
		for (let i = 0; i < 10; i++) await transit.discoverNodes();
		await waitFor(
			async () => (await Promise.all(nodesNow.map(async (name) => (await dropped(name, { reason: "unknown-key" })) >= before.get(name)! + 10))).every(Boolean),
			{
				timeoutMs: 30_000,
				intervalMs: 250,
				what: "every node to drop the burst",
			},
		);
		await retired.stop();
		retired = undefined;
		const upForMs = Date.now() - joinedAt;

		const counts: Record<string, { unknownKey: number; all: number; lines: number }> = {};
		for (const name of nodesNow) {
			const lines = cluster.nodes
				.get(name)!
				.output()
				.split("\n")
				.filter((line) => line.includes("Dropped a"));
			counts[name] = { unknownKey: await dropped(name, { reason: "unknown-key" }), all: await dropped(name), lines: lines.length };
			// every drop is the retired node's, for want of its key; nothing else was dropped
			expect(counts[name].all).toBe(counts[name].unknownKey);
			expect(lines.length).toBeGreaterThanOrEqual(1);
			for (const line of lines)
				expect(line).toContain(`from 'retired-1' sealed with key ${transitKey(A).idText}, which is not in this node's TRANSPORTER_SECRET`);
			// once per 10 s from that sender, however many packets it sent
			expect(lines.length).toBeLessThanOrEqual(Math.floor(upForMs / 10_000) + 1);
			expect(counts[name].unknownKey).toBeGreaterThan(lines.length + 10);
			expect(lines.join("\n")).not.toContain(A);
		}
		console.info(`secret rotation: a node with only the retired secret, up ${upForMs} ms: dropped (and logged) by each node ${JSON.stringify(counts)}`);
		// the cluster still serves
		const res = await request("POST", `${apiUrl}/clients`, { name: "After", email: "after@example.com" });
		expect(res.status).toBe(201);
	});
});
