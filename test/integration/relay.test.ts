/**
 * The relay on SQLite (one replica: it always relays), in this process, over the real RabbitMQ
 * under a prefix of this test's own: its checkpoint is durable, so a node stopped and started
 * again publishes only what is new, never the confirmed events again; the queue and its DLQ
 * are declared with the contract's arguments. The prefixed queues and exchanges are deleted after.
 */
import amqp from "amqplib";
import { client } from "../helpers/http";
import { deleteEventStream, deleteQueues, describeWithInfra, INFRA_URLS, listQueues, uniqueName } from "../helpers/infra";
import { querySqlite } from "../helpers/sqlite";
import { removeDir, startSystem, tempDataDir, type TestSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

jest.setTimeout(60_000);

describeWithInfra(["rabbitmq"], "the relay on SQLite", () => {
	const namespace = uniqueName("cg-relay").replace(/_/g, "-");
	const prefix = `${namespace}.`;
	const dataDir = tempDataDir();
	const env = { TRANSPORTER: INFRA_URLS.rabbitmq, NAMESPACE: namespace, EVENT_STREAM_PREFIX: prefix, NODEID: "relay-node" };
	let system: TestSystem | undefined;

	afterAll(async () => {
		await system?.stop();
		await deleteQueues(`MOL-${namespace}.`);
		await deleteEventStream(prefix);
		removeDir(dataDir);
	});

	/** Messages waiting in the test's client.events queue. */
	async function queued(): Promise<number> {
		const connection = await amqp.connect(INFRA_URLS.rabbitmq);
		try {
			const channel = await connection.createChannel();
			return (await channel.checkQueue(`${prefix}client.events`)).messageCount;
		} finally {
			await connection.close();
		}
	}

	// on this node itself: a first request to a fresh namespace's shared queue may be published before the queue exists
	const relayState = () =>
		(system as TestSystem).broker.call<{ checkpoint: number; head: number; relaying: boolean; connected: boolean }, Record<string, never>>(
			"clients.relayState",
			{},
			{ nodeID: "relay-node" },
		);

	test("declares its queue and DLQ with the contract's arguments, under the prefix", async () => {
		system = await startSystem({ dataDir, env });
		await waitFor(async () => (await listQueues(prefix)).length === 4, { timeoutMs: 10_000, what: "the 4 stream queues declared" });
		const queues = Object.fromEntries((await listQueues(prefix)).map((queue) => [queue.name, queue]));
		expect(queues[`${prefix}client.events`]).toMatchObject({
			durable: true,
			arguments: {
				"x-message-ttl": 86_400_000,
				"x-dead-letter-exchange": `${prefix}microservice.events.dlx`,
				"x-dead-letter-routing-key": `${prefix}client.events.dlq`,
			},
		});
		expect(queues[`${prefix}goal.events.dlq`]).toMatchObject({ durable: true, arguments: {} });
		// (the queues exist a moment before the relay's connection counts as up)
		await waitFor(async () => (await relayState()).connected, { timeoutMs: 10_000, what: "the relay connected" });
		expect(await relayState()).toEqual({ checkpoint: 0, head: 0, relaying: true, connected: true, broker: "127.0.0.1:5672" });
	});

	test("its state action is internal: not reachable over HTTP", async () => {
		const api = client((system as TestSystem).url);
		for (const path of ["/clients.relayState", "/clients/relayState/1", "/admin/clients.relayState"]) {
			for (const method of ["GET", "POST"]) {
				const res = await api.send(method, path);
				expect({ method, path, status: res.status }).toEqual({ method, path, status: path.startsWith("/admin") ? 401 : 404 });
			}
		}
		// `/clients/relayState` is `GET /api/clients/:id` with an id that is no number
		expect((await api.get("/clients/relayState")).status).toBe(422);
	});

	test("a node stopped and started again publishes only what is new: the checkpoint is durable", async () => {
		const api = client((system as TestSystem).url);
		for (let i = 0; i < 20; i++) expect((await api.post("/clients", { name: `Relay ${i}`, email: `relay${i}@example.com` })).status).toBe(201);
		await waitFor(async () => (await relayState()).checkpoint === 20, { timeoutMs: 10_000, what: "the relay's checkpoint at 20" });
		expect(await queued()).toBe(20);
		expect(await querySqlite(dataDir, "clients", "SELECT source, sequence FROM relay_checkpoint", {})).toEqual([{ source: "clients", sequence: 20 }]);

		await (system as TestSystem).stop();
		system = await startSystem({ dataDir, env });
		const again = client(system.url);
		for (let i = 0; i < 5; i++) expect((await again.put(`/clients/${i + 1}`, { name: `Again ${i}` })).status).toBe(200);
		await waitFor(async () => (await relayState()).checkpoint === 25, { timeoutMs: 10_000, what: "the relay's checkpoint at 25" });
		// 20 + 5: none of the first 20 published again
		await waitFor(async () => (await queued()) === 25, { timeoutMs: 5_000, what: "25 messages in the queue" });
		expect(await relayState()).toEqual({ checkpoint: 25, head: 25, relaying: true, connected: true, broker: "127.0.0.1:5672" });
	});
});
