/**
 * Several RabbitMQ nodes (issue 19, parts 2 and 3): a three-node RabbitMQ cluster started by this
 * test on loopback ports, the project on it with AMQP_QUEUE_TYPE=quorum and the three URLs in
 * TRANSPORTER (real processes: api, clients, two goals replicas, databases of their own on a
 * PostgreSQL of this test's own, out of reach of other suites' connections; the machine's Redis),
 * the relay publishing the AMQP stream to the same cluster and a plain
 * amqplib consumer (examples/amqp-consumer.ts) reading it.
 *
 * 1. The shared queues (REQB, EVENTB) and the stream's queues and DLQs are quorum queues with
 *    three members; each node's own queues are non-durable classic ones.
 * 2. Under concurrent load (client and goal creations, each with an Idempotency-Key, retried on
 *    502/503/504 or no answer), the RabbitMQ node every project node connected to first (the first
 *    URL) is killed with kill -9: every creation ends 201 exactly once, every 201 is listed exactly
 *    once, the goals' copies of client names converge, the failed attempts span at most 10 s, no
 *    answer is a 500; every node reconnects to another RabbitMQ node and /api/ready says which;
 *    the stream's consumer receives every event of both logs (duplicates allowed) and the relay
 *    keeps relaying. The killed node, started again, rejoins, its queues' replicas come back
 *    online, and the cluster keeps serving.
 *
 * With the node-private queues durable (the transporter before this issue), the nodes never get
 * their subscriptions back after the kill (404 on redeclaring a queue whose home is down) and
 * step 2 fails with creations that never end 201.
 */
import { randomUUID } from "node:crypto";
import { Cluster, type ClusterInfra, copiesConverge } from "../helpers/cluster";
import { type ExampleConsumer, startExampleConsumer } from "../helpers/example-consumer";
import { client, request } from "../helpers/http";
import { describeWithInfra, INFRA_URLS } from "../helpers/infra";
import { PrivatePostgres, PrivateRabbitCluster } from "../helpers/private-infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(420_000);

/** creations sent at once */
const CONCURRENCY = 12;
const CLIENT_CREATIONS = 200;
const GOAL_CREATIONS = 200;
/** the kill comes once this many creations have answered 201 */
const KILL_AFTER = 100;
/** an attempt without an answer after this long is given up and sent again (the gateway's own timeout is 10 s) */
const NO_ANSWER_MS = 15_000;
/** the failed attempts (502/503/504, no answer) span at most this long */
const MAX_FAILED_SPAN_MS = 10_000;
/** statuses a creation is retried on */
const RETRIED = new Set([502, 503, 504]);

type Json = Record<string, any>;

/** A row of a producer's event log, as the test reads it. */
interface LogRow {
	sequence: number;
	eventId: string;
}

/** Sequences as ranges, e.g. `3-7, 12`, for failure messages. */
function ranges(sequences: number[]): string {
	const sorted = [...sequences].sort((a, b) => a - b);
	const parts: string[] = [];
	for (let i = 0; i < sorted.length; ) {
		let j = i;
		while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
		parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
		i = j + 1;
	}
	return parts.join(", ") || "none";
}

/** One HTTP attempt of a creation. */
interface Attempt {
	startedAt: number;
	endedAt: number;
	/** the HTTP status, or 0 for no answer (connection error, or none within NO_ANSWER_MS) */
	status: number;
}

/** One creation, tried until it answered 201. */
interface Creation {
	kind: "client" | "goal";
	key: string;
	body: Json;
	attempts: Attempt[];
	created?: Json;
}

describeWithInfra(["redis"], "a three-node RabbitMQ cluster with quorum queues", () => {
	const rabbits = new PrivateRabbitCluster(3);
	const postgres = new PrivatePostgres();
	let cluster: Cluster | undefined;
	let consumer: ExampleConsumer | undefined;
	let apiUrl = "";
	/** every answer of every attempt, also those that came after their attempt was given up */
	const statuses = new Map<number, number>();

	beforeAll(async () => {
		const startedAt = Date.now();
		await Promise.all([rabbits.start(), postgres.start()]);
		console.log(`RabbitMQ cluster of 3 up in ${Date.now() - startedAt} ms: ${rabbits.nodes.map((node) => node.node).join(", ")}`);
		const infra: ClusterInfra = {
			rabbitmq: rabbits.url,
			redis: INFRA_URLS.redis,
			createDatabase: (name) => postgres.createDatabase(name),
			dropDatabase: (name) => postgres.dropDatabase(name),
			cleanQueues: false,
		};
		// the contract's stream names: the cluster is this test's own
		cluster = new Cluster({ AMQP_QUEUE_TYPE: "quorum", EVENT_STREAM_PREFIX: "" }, infra);
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		await cluster.start("goals-1", "goals");
		await cluster.start("goals-2", "goals");
		apiUrl = await cluster.startApi("api-1");
		consumer = startExampleConsumer(rabbits.url, ["--queue", "client.events,goal.events"]);
	});

	afterAll(async () => {
		try {
			await consumer?.stop();
			await cluster?.tearDown();
		} finally {
			await Promise.all([rabbits.destroy(), postgres.destroy()]);
		}
	});

	const live = () => cluster as Cluster;
	const relayState = (nodeID: string) =>
		live().probe.call<{ relaying: boolean; connected: boolean; broker: string | null; checkpoint: number; head: number }, Record<string, never>>(
			"clients.relayState",
			{},
			{ nodeID },
		);
	const firstBroker = () => rabbits.nodes[0].url.replace(/^amqp:\/\/[^@]*@/, "");

	/**
	 * Where the events the stream's consumer has not received are, for the failure message: per
	 * log the missing sequences and the relay's checkpoint (what the broker confirmed); per stream
	 * queue and DLQ its depth and consumers, and the consumers and channels, as a live RabbitMQ
	 * node counts them; what the consumer received per queue, and said.
	 */
	const streamDiagnosis = async (logs: Record<"clients" | "goals", LogRow[]>, killedAt: number): Promise<string> => {
		const example = consumer as ExampleConsumer;
		const got = new Set(example.deliveries.filter((d) => d.action === "ack").map((d) => d.properties.messageId));
		const lines: string[] = [`diagnosis, ${Date.now() - killedAt} ms after the kill:`];
		for (const source of ["clients", "goals"] as const) {
			const missing = logs[source].filter((row) => !got.has(row.eventId)).map((row) => row.sequence);
			const checkpoint = await live()
				.query<{ sequence: number }>(source, "SELECT sequence FROM relay_checkpoint")
				.then((rows) => String(rows[0]?.sequence ?? "none"))
				.catch((err: Error) => `unreadable (${err.message})`);
			lines.push(
				`${source}: ${logs[source].length} events in the log, relay checkpoint ${checkpoint}, ${missing.length} not received: sequences ${ranges(missing)}`,
			);
		}
		for (const [nodeID, action] of [
			["clients-1", "clients.relayState"],
			["goals-1", "goals.relayState"],
			["goals-2", "goals.relayState"],
		]) {
			const state = await live()
				.probe.call(action, {}, { nodeID })
				.catch((err: Error) => err.message);
			lines.push(`${action} on ${nodeID}: ${JSON.stringify(state)}`);
		}
		const stream = (name: unknown) => typeof name === "string" && /^(client|goal)\.events(\.dlq)?$/.test(name);
		const queues = await rabbits.table("queues", ["name", "type", "messages_ready", "messages_unacknowledged", "consumers", "leader", "online"]);
		lines.push(`queues: ${JSON.stringify(Array.isArray(queues) ? queues.filter((q) => stream((q as { name?: unknown }).name)) : queues)}`);
		const consumers = await rabbits.table("consumers", ["queue_name", "channel_pid", "consumer_tag", "prefetch_count", "active"]);
		lines.push(
			`consumers: ${JSON.stringify(Array.isArray(consumers) ? consumers.filter((c) => stream((c as { queue_name?: unknown }).queue_name)) : consumers)}`,
		);
		lines.push(`channels: ${JSON.stringify(await rabbits.table("channels", ["pid", "name", "consumer_count", "messages_unacknowledged", "prefetch_count"]))}`);
		const perQueue = new Map<string, { acked: number; redelivered: number }>();
		for (const delivery of example.deliveries) {
			const counts = perQueue.get(delivery.queue) ?? { acked: 0, redelivered: 0 };
			if (delivery.action === "ack") counts.acked++;
			if (delivery.redelivered) counts.redelivered++;
			perQueue.set(delivery.queue, counts);
		}
		lines.push(`the consumer's deliveries per queue: ${JSON.stringify(Object.fromEntries(perQueue))}`);
		lines.push(`the consumer said:\n${example.errors()}`);
		return lines.join("\n");
	};

	test("the shared queues and the stream's queues are quorum queues with three members; each node's own queues are non-durable classic", async () => {
		const ns = live().namespace;
		const wanted = (name: string) => name.startsWith(`MOL-${ns}.REQB.`) || name.startsWith(`MOL-${ns}.EVENTB.`) || /^(client|goal)\.events(\.dlq)?$/.test(name);
		const queues = await waitFor(
			async () => {
				const all = await rabbits.queues("");
				const shared = all.filter((queue) => wanted(queue.name));
				// the relays declare the stream's queues once they have connected
				return shared.filter((queue) => /\.events/.test(queue.name) && !queue.name.startsWith("MOL-")).length === 4 ? all : null;
			},
			{ timeoutMs: 30_000, intervalMs: 500, what: "the stream's four queues declared" },
		);
		const shared = queues.filter((queue) => wanted(queue.name));
		const nodes = rabbits.nodes.map((node) => node.node).sort();
		for (const event of ["client.created", "client.updated", "client.deleted"]) expect(shared.map((q) => q.name)).toContain(`MOL-${ns}.EVENTB.goals.${event}`);
		expect(shared.map((q) => q.name)).toContain(`MOL-${ns}.REQB.goals.create`);
		for (const queue of shared) {
			expect({ name: queue.name, durable: queue.durable, type: queue.type, members: [...queue.members].sort() }).toEqual({
				name: queue.name,
				durable: true,
				type: "quorum",
				members: nodes,
			});
		}
		const own = queues.filter((queue) => queue.name.startsWith(`MOL-${ns}.`) && !wanted(queue.name));
		expect(own.map((queue) => queue.name)).toContain(`MOL-${ns}.REQ.goals-1`);
		for (const queue of own)
			expect({ name: queue.name, durable: queue.durable, type: queue.type }).toEqual({ name: queue.name, durable: false, type: "classic" });
		console.log(`${shared.length} quorum queues with 3 members; ${own.length} node-private classic queues, non-durable`);
	});

	test("kill -9 of the first RabbitMQ node under load: every creation 201 exactly once, failed attempts within 10 s, no 500, every node on another node, nothing lost from the stream", async () => {
		const ns = live().namespace;
		const api = client(apiUrl);
		// every project node, the relay and the stream's consumer are on the first node of the list
		expect((await api.get("/ready")).body.components.transporter).toMatchObject({ status: "UP", broker: "1 of 3" });
		await waitFor(async () => (await relayState("clients-1")).broker === firstBroker(), { timeoutMs: 20_000, what: "the clients relay on the first node" });

		// owners for the goals, created before the load
		const owners: number[] = [];
		for (let i = 0; i < 20; i++) {
			const res = await api.post("/clients", { name: `Owner ${i}`, email: `owner${i}-${ns}@example.com` });
			expect(res.status).toBe(201);
			owners.push(res.body.id);
		}
		const creations: Creation[] = [];
		for (let i = 0; i < Math.max(CLIENT_CREATIONS, GOAL_CREATIONS); i++) {
			if (i < CLIENT_CREATIONS)
				creations.push({ kind: "client", key: randomUUID(), body: { name: `Load ${i}`, email: `load${i}-${ns}@example.com` }, attempts: [] });
			if (i < GOAL_CREATIONS)
				creations.push({
					kind: "goal",
					key: randomUUID(),
					body: { clientId: owners[i % owners.length], goalName: `Load goal ${i}`, targetAmount: 100 + i },
					attempts: [],
				});
		}

		let createdCount = 0;
		let killedAt = 0;
		let killing: Promise<void> | null = null;
		/** ms from the kill until each node said it had reconnected (its log, looked at every 100 ms) */
		const failover = new Map<string, number>();
		const kill = async () => {
			const before = new Map([...live().nodes].map(([name, node]) => [name, node.output().length]));
			killedAt = Date.now();
			await rabbits.nodes[0].kill9();
			console.log(`killed ${rabbits.nodes[0].node} (kill -9 of its beam process) after ${createdCount} creations`);
			await waitFor(
				() => {
					for (const [name, node] of live().nodes)
						if (!failover.has(name) && node.output().slice(before.get(name)).includes("Reconnected to RabbitMQ")) failover.set(name, Date.now() - killedAt);
					return failover.size === live().nodes.size;
				},
				{ timeoutMs: 60_000, intervalMs: 100, what: `every node to reconnect\n${live().logs().slice(-10_000)}` },
			);
		};

		/** One creation, tried with its Idempotency-Key until it answers 201 (retried on 502/503/504 or no answer). */
		const create = async (creation: Creation): Promise<void> => {
			const deadline = Date.now() + 120_000;
			for (;;) {
				const attempt: Attempt = { startedAt: Date.now(), endedAt: 0, status: 0 };
				creation.attempts.push(attempt);
				const sent = request("POST", `${apiUrl}/${creation.kind}s`, creation.body, { headers: { "idempotency-key": creation.key } }).then(
					(res) => {
						statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
						return res;
					},
					() => null,
				);
				let timer: NodeJS.Timeout | undefined;
				const res = await Promise.race([sent, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), NO_ANSWER_MS)))]);
				clearTimeout(timer);
				attempt.endedAt = Date.now();
				attempt.status = res?.status ?? 0;
				if (res?.status === 201) {
					creation.created = res.body as Json;
					createdCount++;
					if (createdCount === KILL_AFTER) killing = kill();
					return;
				}
				if (res && !RETRIED.has(res.status))
					throw new Error(`${creation.kind} ${JSON.stringify(creation.body)} answered ${res.status}: ${res.text}\n${live().logs().slice(-20_000)}`);
				if (Date.now() > deadline)
					throw new Error(`${creation.kind} ${JSON.stringify(creation.body)} never answered 201: ${JSON.stringify(creation.attempts)}`);
				await new Promise((resolve) => setTimeout(resolve, 200));
			}
		};

		const loadStartedAt = Date.now();
		let next = 0;
		await Promise.all(
			Array.from({ length: CONCURRENCY }, async () => {
				while (next < creations.length) await create(creations[next++]);
			}),
		);
		expect(killing).not.toBeNull();
		await killing;
		const loadMs = Date.now() - loadStartedAt;

		// every creation 201, each with its own entity
		const failed = creations.flatMap((creation) => creation.attempts.filter((attempt) => attempt.status !== 201));
		const failedSpan = failed.length === 0 ? 0 : Math.max(...failed.map((a) => a.endedAt)) - Math.min(...failed.map((a) => a.startedAt));
		const firstFailureAfterKill = failed.length === 0 ? 0 : Math.min(...failed.map((a) => a.startedAt)) - killedAt;
		const statusSummary = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
		console.log(`failover (kill -9 → "Reconnected to RabbitMQ" in the node's log): ${[...failover].map(([name, ms]) => `${name} ${ms} ms`).join(", ")}`);
		console.log(
			`${creations.length} creations (${CLIENT_CREATIONS} clients, ${GOAL_CREATIONS} goals) in ${loadMs} ms, ${creations.reduce((n, c) => n + c.attempts.length, 0)} attempts; ` +
				`${failed.length} failed attempt(s) (${failed.filter((a) => a.status === 0).length} without an answer) spanning ${failedSpan} ms, the first ${firstFailureAfterKill} ms after the kill; answers by status ${JSON.stringify(statusSummary)}`,
		);
		expect(statuses.get(500) ?? 0).toBe(0);
		expect([...statuses.keys()].filter((status) => status !== 201 && !RETRIED.has(status))).toEqual([]);
		expect(failedSpan).toBeLessThanOrEqual(MAX_FAILED_SPAN_MS);
		for (const creation of creations) expect({ key: creation.key, created: Boolean(creation.created) }).toEqual({ key: creation.key, created: true });
		const clientIds = creations.filter((c) => c.kind === "client").map((c) => (c.created as Json).id as number);
		const goalIds = creations.filter((c) => c.kind === "goal").map((c) => (c.created as Json).id as number);
		expect(new Set(clientIds).size).toBe(CLIENT_CREATIONS);
		expect(new Set(goalIds).size).toBe(GOAL_CREATIONS);

		// every 201 listed exactly once, nothing else created
		const listAll = async (path: string): Promise<Json[]> => {
			const rows: Json[] = [];
			for (let page = 1; ; page++) {
				const res = await api.get(`${path}?page=${page}&pageSize=100`);
				expect(res.status).toBe(200);
				rows.push(...(res.body.rows as Json[]));
				if (page >= res.body.totalPages) return rows;
			}
		};
		const listedClients = await listAll("/clients");
		const listedGoals = await listAll("/goals");
		const count = (ids: number[]) => ids.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<number, number>());
		const clientsListed = count(listedClients.map((row) => row.id));
		const goalsListed = count(listedGoals.map((row) => row.id));
		expect([...clientsListed.values()].filter((n) => n !== 1)).toEqual([]);
		expect([...goalsListed.values()].filter((n) => n !== 1)).toEqual([]);
		expect(listedClients.length).toBe(owners.length + CLIENT_CREATIONS);
		expect(listedGoals.length).toBe(GOAL_CREATIONS);
		for (const id of [...owners, ...clientIds]) expect({ id, listed: clientsListed.get(id) }).toEqual({ id, listed: 1 });
		for (const id of goalIds) expect({ id, listed: goalsListed.get(id) }).toEqual({ id, listed: 1 });

		// the goals' copies of client names converge
		await copiesConverge(live(), 60_000);

		// every node went to another RabbitMQ node; /api/ready says which
		const ready = (await api.get("/ready")).body.components.transporter;
		expect(ready.status).toBe("UP");
		// (by its position in TRANSPORTER's list: no host or port in a public answer)
		expect(["2 of 3", "3 of 3"]).toContain(ready.broker);
		for (const name of ["clients-1", "goals-1", "goals-2", "api-1"]) {
			const output = live().nodes.get(name)?.output() ?? "";
			expect({ name, reconnected: /Reconnected to RabbitMQ at 127\.0\.0\.1:\d+ \(3 nodes listed\); was at /.test(output) }).toEqual({
				name,
				reconnected: true,
			});
		}

		// the relay (clients-1 holds its lock) publishes through another node, and the stream's consumer got every event
		let lastRelay: unknown;
		const relay = await waitFor(
			async () => {
				const state = await relayState("clients-1");
				lastRelay = state;
				return state.relaying && state.connected && state.checkpoint === state.head ? state : null;
			},
			{ timeoutMs: 60_000, intervalMs: 250, what: "the clients relay caught up on another node" },
		).catch(async (error: Error) => {
			const relayLines = (live().nodes.get("clients-1")?.output() ?? "").split("\n").filter((line) => /relay|stream/i.test(line));
			const queues = await rabbits.table("queues", ["name", "type", "durable", "state", "leader", "online", "messages", "policy", "arguments"]);
			const bindings = await rabbits.table("bindings", ["source_name", "destination_name", "routing_key"]);
			const stream = (row: unknown) => !JSON.stringify(row).includes(`MOL-${live().namespace}`);
			throw new Error(
				`${error.message}; last state ${JSON.stringify(lastRelay)}; clients-1's relay lines:\n${relayLines.slice(-30).join("\n")}\nqueues: ${JSON.stringify(Array.isArray(queues) ? queues.filter(stream) : queues)}\nbindings: ${JSON.stringify(Array.isArray(bindings) ? bindings.filter(stream) : bindings)}`,
			);
		});
		expect(relay.broker).not.toBe(firstBroker());
		// and the goals relay (whichever replica holds its lock): a relay that stopped is told apart from a consumer that did
		await waitFor(
			async () => {
				for (const nodeID of ["goals-1", "goals-2"]) {
					const state = await live().probe.call<{ relaying: boolean; connected: boolean; checkpoint: number; head: number }, Record<string, never>>(
						"goals.relayState",
						{},
						{ nodeID },
					);
					if (state.relaying) return state.connected && state.checkpoint === state.head;
				}
				return false;
			},
			{ timeoutMs: 60_000, intervalMs: 250, what: "the goals relay caught up on another node" },
		);
		const logs = {
			clients: await live().query<LogRow>("clients", `SELECT sequence, "eventId" FROM event_log ORDER BY sequence`),
			goals: await live().query<LogRow>("goals", `SELECT sequence, "eventId" FROM event_log ORDER BY sequence`),
		};
		const received = () => new Set((consumer as ExampleConsumer).deliveries.filter((d) => d.action === "ack").map((d) => d.properties.messageId));
		try {
			await waitFor(
				() => {
					const got = received();
					const missing = [...logs.clients, ...logs.goals].filter((row) => !got.has(row.eventId));
					if (missing.length > 0) throw new Error(`${missing.length} event(s) not received yet`);
					return true;
				},
				{ timeoutMs: 60_000, intervalMs: 250, what: `every event of both logs received by the stream's consumer\n${consumer?.errors()}` },
			);
		} catch (err) {
			// the same failure, with what it takes to tell where the events are: never published, in a queue, or dead-lettered
			throw new Error(`${(err as Error).message}\n${await streamDiagnosis(logs, killedAt)}`);
		}
		const deliveries = (consumer as ExampleConsumer).deliveries.filter((d) => d.action === "ack");
		console.log(
			`stream: ${logs.clients.length + logs.goals.length} events, ${deliveries.length} deliveries, ${deliveries.length - received().size} duplicate(s); relay now at ${relay.broker}`,
		);
	});

	test("the killed node, started again, rejoins: its replicas come back online and the cluster keeps serving", async () => {
		const restartedAt = Date.now();
		await rabbits.nodes[0].start();
		await waitFor(async () => (await rabbits.runningNodes(rabbits.nodes[1])).length === 3, { timeoutMs: 60_000, intervalMs: 500, what: "three running nodes" });
		const back = rabbits.nodes[0].node;
		await waitFor(
			async () => {
				const shared = (await rabbits.queues("")).filter((queue) => queue.type === "quorum");
				return shared.length > 0 && shared.every((queue) => queue.online.includes(back));
			},
			{ timeoutMs: 60_000, intervalMs: 500, what: `every quorum queue's replica on ${back} online again` },
		);
		console.log(`${back} rejoined, its quorum replicas online, ${Date.now() - restartedAt} ms after its start`);
		const api = client(apiUrl);
		const ns = live().namespace;
		for (let i = 0; i < 20; i++) {
			const res = await api.post("/clients", { name: `After ${i}`, email: `after${i}-${ns}@example.com` });
			expect(res.status).toBe(201);
			expect((await api.post("/goals", { clientId: res.body.id, goalName: `After goal ${i}`, targetAmount: 10 })).status).toBe(201);
		}
		await copiesConverge(live(), 30_000);
	});
});
