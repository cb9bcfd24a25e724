/**
 * A channel that RabbitMQ closes while the connection stays up (moleculerjs/moleculer#692):
 * the node must reconnect and consume again, not sit "connected" and deaf. Two real brokers in
 * this process over the real RabbitMQ, each with its own SQLite files, in a namespace of their own.
 */
import { querySqlite } from "../helpers/sqlite";
import { client } from "../helpers/http";
import { deleteQueues, describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { removeDir, startSystem, tempDataDir, type TestSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

interface AmqpInternals {
	channel: { checkQueue(queue: string): Promise<unknown> } | null;
	connected: boolean;
}

describeWithInfra(["rabbitmq"], "AMQP channel closed by the server", () => {
	const namespace = uniqueName("cg-chan").replace(/_/g, "-");
	const dataDir = tempDataDir();
	let producer: TestSystem;
	let consumer: TestSystem;

	beforeAll(async () => {
		// only live delivery can bring the change over: no periodic catch-up during the test
		const env = { TRANSPORTER: INFRA_URLS.rabbitmq, NAMESPACE: namespace, CATCHUP_INTERVAL: "3600000" };
		producer = await startSystem({ dataDir, env: { ...env, SERVICES: "clients,api", NODEID: "producer" } });
		consumer = await startSystem({ dataDir, env: { ...env, SERVICES: "goals", NODEID: "consumer" } });
		await waitFor(() => producer.broker.registry.nodes.get("consumer")?.available, { timeoutMs: 10_000, what: "the nodes to see each other" });
	}, 30_000);

	afterAll(async () => {
		await consumer?.stop();
		await producer?.stop();
		await deleteQueues(`MOL-${namespace}.`);
		removeDir(dataDir);
	});

	test("after a server-side channel close the consumer reconnects and applies live events again", async () => {
		const tx = consumer.broker.transit?.tx as unknown as AmqpInternals;
		const channel = tx.channel;
		// A passive declare of a missing queue is a channel error: RabbitMQ closes that channel.
		await expect(channel?.checkQueue(`no-such-queue-${namespace}`)).rejects.toThrow(/NOT_FOUND/);
		await waitFor(() => tx.channel !== null && tx.channel !== channel && tx.connected, {
			timeoutMs: 15_000,
			what: "a new channel on a new connection",
		});

		const created = await client(producer.url).post("/clients", { name: "After", email: "after@example.com" });
		expect(created.status).toBe(201);
		await waitFor(
			async () => (await querySqlite(dataDir, "goals", "SELECT name FROM client_projection WHERE clientId = :id", { id: created.body.id })).length === 1,
			{ timeoutMs: 10_000, what: "the goal service to apply client.created live" },
		);
	}, 40_000);

	test("/api/ready lists the RabbitMQ node it is connected to, and each event queue this node consumes with its depth and consumers", async () => {
		const ready = await client(producer.url).get("/ready");
		expect(ready.status).toBe(200);
		// and which RabbitMQ node it is connected to: host and port, no credentials
		expect(ready.body.components.transporter).toEqual({ status: "UP", type: "ResilientAmqpTransporter", broker: "1 of 1" });
		const { status, ...queues } = ready.body.components.queues;
		expect(status).toBe("UP");
		// the node runs clients, which consumes goal.* in group "clients"
		expect(Object.keys(queues).sort()).toEqual(["goal.created", "goal.deleted", "goal.updated"].map((event) => `MOL-${namespace}.EVENTB.clients.${event}`));
		for (const queue of Object.values(queues) as Array<{ messages: number; consumers: number }>) {
			expect(queue).toEqual({ messages: expect.any(Number), consumers: 1 });
		}
	});
});
