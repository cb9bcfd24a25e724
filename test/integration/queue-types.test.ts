/**
 * Queue settings by kind (lib/infra/amqp-queues.ts) on the real RabbitMQ, with real ServiceBrokers
 * using the project's transporter, in a namespace of this test's own:
 *
 * - AMQP_QUEUE_TYPE=quorum: the shared request and event-group queues are quorum queues (the
 *   event ones with their 24 h TTL); the node's own queues non-durable classic ones.
 * - A node whose own queues an earlier version declared durable (RabbitMQ refuses the new
 *   declaration with 406) deletes and declares them again, and serves.
 * - A shared queue found of the other type is used as it is: the node says so once, naming the
 *   queue, the type found and AMQP_QUEUE_TYPE, keeps its one connection and serves.
 * - The relay's publisher likewise with a stream queue of the other type: it connects, says so,
 *   and its messages are confirmed and routed to that queue.
 */
import amqp, { type ChannelModel } from "amqplib";
import { type Context, ServiceBroker, type ServiceSchema } from "moleculer";
import type { QueueType } from "../../lib/infra/amqp-queues";
import { ResilientAmqpTransporter } from "../../lib/infra/amqp-transporter";
import { streamMessage, streamNames } from "../../lib/relay/relay-rules";
import { StreamPublisher } from "../../lib/relay/stream-publisher";
import { deleteEventStream, deleteQueues, describeWithInfra, INFRA_URLS, listQueues, uniqueName } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(60_000);

describeWithInfra(["rabbitmq"], "queue types and settings by kind", () => {
	const namespace = uniqueName("cg-qtype").replace(/_/g, "-");
	const prefix = `MOL-${namespace}`;
	const brokers: ServiceBroker[] = [];
	let connection: ChannelModel;

	/** What a node logged at warn and error level, by node. */
	const logged = new Map<string, string[]>();

	function broker(nodeID: string, queueType: QueueType, ...services: ServiceSchema[]): ServiceBroker {
		const lines: string[] = [];
		logged.set(nodeID, lines);
		const node = new ServiceBroker({
			namespace,
			nodeID,
			// the node's own log lines, kept to read what it said (Moleculer's Console logger, quiet)
			logger: {
				type: "Console",
				options: {
					level: "warn",
					formatter: (_type: string, args: unknown[]) => {
						lines.push(args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(" "));
						return [];
					},
				},
			},
			transporter: new ResilientAmqpTransporter({ url: INFRA_URLS.rabbitmq, autoDeleteQueues: false, eventTimeToLive: 86_400_000, prefetch: 4, queueType }),
			disableBalancer: true,
			requestTimeout: 10_000,
		});
		for (const service of services) node.createService(service);
		brokers.push(node);
		return node;
	}

	const echo = (name: string): ServiceSchema => ({
		name,
		actions: { hi: (ctx: Context) => ctx.broker.nodeID },
		events: { "thing.happened": { group: name, handler: () => undefined } },
	});

	/** The transporter's connection now (a node that reconnected has another one), and how many it made. */
	function connectionOf(node: ServiceBroker): { connection: unknown; connectionCount: number } {
		const tx = node.transit?.tx as unknown as { connection: unknown; connectionCount: number } | undefined;
		if (!tx) throw new Error(`${node.nodeID} has no transporter`);
		return { connection: tx.connection, connectionCount: tx.connectionCount };
	}

	beforeAll(async () => {
		connection = await amqp.connect(INFRA_URLS.rabbitmq);
	});

	afterAll(async () => {
		await Promise.all(brokers.map((node) => node.stop().catch(() => undefined)));
		await connection?.close();
		await deleteQueues(`${prefix}.`);
		await deleteEventStream(`${namespace}.`);
	});

	test("quorum: shared request and event-group queues are quorum queues (the event ones with their 24 h TTL); the node's own are non-durable classic", async () => {
		const server = broker("q-server", "quorum", echo("quorate"));
		await server.start();
		expect(await server.call("quorate.hi", {}, { timeout: 5_000, retries: 0 })).toBe("q-server");
		const queues = await waitFor(
			async () => {
				const found = await listQueues(`${prefix}.`);
				return found.some((queue) => queue.name === `${prefix}.EVENTB.quorate.thing.happened`) ? found : null;
			},
			{ timeoutMs: 10_000, what: "the event-group queue declared" },
		);
		const byName = new Map(queues.map((queue) => [queue.name, queue]));
		expect(byName.get(`${prefix}.REQB.quorate.hi`)).toMatchObject({ durable: true, type: "quorum", arguments: { "x-queue-type": "quorum" } });
		expect(byName.get(`${prefix}.EVENTB.quorate.thing.happened`)).toMatchObject({
			durable: true,
			type: "quorum",
			arguments: { "x-queue-type": "quorum", "x-message-ttl": 86_400_000 },
		});
		const own = queues.filter((queue) => queue.name.endsWith(".q-server"));
		expect(own.map((queue) => queue.name.slice(prefix.length + 1)).sort()).toEqual(
			["DISCONNECT", "DISCOVER", "EVENT", "HEARTBEAT", "INFO", "PING", "PONG", "REQ", "RES"].map((cmd) => `${cmd}.q-server`),
		);
		for (const queue of own)
			expect({ name: queue.name, durable: queue.durable, type: queue.type }).toEqual({ name: queue.name, durable: false, type: "classic" });
	});

	test("a node whose own queues an earlier version declared durable deletes and declares them again, and serves", async () => {
		// what the previous version of the transporter left: the node's own queues, durable
		const channel = await connection.createChannel();
		for (const cmd of ["REQ", "RES", "EVENT", "INFO"]) await channel.assertQueue(`${prefix}.${cmd}.upgraded`, { durable: true });
		await channel.close();

		const node = broker("upgraded", "classic", echo("upgraders"));
		await node.start();
		const caller = broker("upgrade-caller", "classic");
		await caller.start();
		await caller.waitForServices("upgraders", 10_000);
		expect(await caller.call("upgraders.hi", {}, { timeout: 5_000, retries: 0 })).toBe("upgraded");
		// a call to this node alone goes through its own REQ queue, its answer through the caller's RES
		expect(await caller.call("upgraders.hi", {}, { nodeID: "upgraded", timeout: 5_000, retries: 0 })).toBe("upgraded");

		const own = (await listQueues(`${prefix}.`)).filter((queue) => ["REQ", "RES", "EVENT", "INFO"].some((cmd) => queue.name === `${prefix}.${cmd}.upgraded`));
		expect(own.map((queue) => ({ name: queue.name, durable: queue.durable })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(
			["REQ", "RES", "EVENT", "INFO"].map((cmd) => ({ name: `${prefix}.${cmd}.upgraded`, durable: false })).sort((a, b) => a.name.localeCompare(b.name)),
		);
		expect(
			(logged.get("upgraded") ?? []).filter((line) => line.includes("existed with other settings") && line.includes("deleted and declared again")),
		).toHaveLength(4);
	});

	test("a shared queue of the other type is used as it is: said once, naming it, the type found and AMQP_QUEUE_TYPE; one connection throughout", async () => {
		// a classic request queue from before AMQP_QUEUE_TYPE=quorum
		const queue = `${prefix}.REQB.mixed.hi`;
		const channel = await connection.createChannel();
		await channel.assertQueue(queue, { durable: true });
		await channel.close();

		const server = broker("mixed-server", "quorum", echo("mixed"));
		const caller = broker("mixed-caller", "quorum");
		await Promise.all([server.start(), caller.start()]);
		await caller.waitForServices("mixed", 10_000);
		const [serverConnection, callerConnection] = [connectionOf(server).connection, connectionOf(caller).connection];
		for (let i = 0; i < 20; i++) expect(await caller.call("mixed.hi", {}, { timeout: 5_000, retries: 0 })).toBe("mixed-server");

		const said = (node: string) => (logged.get(node) ?? []).filter((line) => line.includes(`'${queue}'`));
		const expected = `Queue '${queue}' exists as a classic queue but AMQP_QUEUE_TYPE=quorum: this node uses it as it is`;
		// the server consumes it, the caller sends to it: each says so once
		for (const node of ["mixed-server", "mixed-caller"]) {
			expect({ node, said: said(node).length, line: said(node)[0]?.slice(0, expected.length) }).toEqual({ node, said: 1, line: expected });
			expect(said(node)[0]).toContain("NAMESPACE");
		}
		expect(connectionOf(server)).toEqual({ connection: serverConnection, connectionCount: 1 });
		expect(connectionOf(caller)).toEqual({ connection: callerConnection, connectionCount: 1 });
		// the queue is as it was; the event-group queue, new, is a quorum queue
		const queues = new Map((await listQueues(`${prefix}.`)).map((found) => [found.name, found]));
		expect(queues.get(queue)?.type).toBe("classic");
		expect(queues.get(`${prefix}.EVENTB.mixed.thing.happened`)?.type).toBe("quorum");
	});

	test("the relay's publisher with a stream queue of the other type: connects, says so once, and its messages are confirmed into that queue", async () => {
		const streamPrefix = `${namespace}.`;
		const names = streamNames("clients", streamPrefix, "quorum");
		const channel = await connection.createChannel();
		// client.events as a classic queue, from before AMQP_QUEUE_TYPE=quorum
		await channel.assertQueue(names.queue.name, { durable: true, arguments: streamNames("clients", streamPrefix, "classic").queueArguments });
		await channel.close();
		const said: string[] = [];
		const broken: string[] = [];
		const publisher = new StreamPublisher(
			INFRA_URLS.rabbitmq,
			names,
			(why) => broken.push(why),
			(message) => said.push(message),
		);
		try {
			await publisher.connect();
			expect(publisher.broker).toBe("127.0.0.1:5672");
			const event = {
				eventId: "7a0c6a53-4a5f-4a43-9d1c-0d6f1b6a3c11",
				eventType: "CREATED" as const,
				source: "clients" as const,
				timestamp: new Date().toISOString(),
				sequence: 1,
				version: 1,
				clientId: 1,
				clientName: "Ann",
				clientEmail: "ann@example.com",
			};
			expect(await publisher.publish([streamMessage(event, undefined)])).toEqual([{ sequence: 1, confirmed: true }]);
		} finally {
			await publisher.close();
		}
		expect(broken).toEqual([]);
		expect(said).toHaveLength(1);
		expect(said[0]).toContain(`Queue '${names.queue.name}' exists as a classic queue but AMQP_QUEUE_TYPE=quorum`);
		const queues = await waitFor(
			async () => {
				const found = new Map((await listQueues(streamPrefix)).map((queue) => [queue.name, queue]));
				return found.get(names.queue.name)?.messages === 1 ? found : null;
			},
			{ timeoutMs: 10_000, what: "the message in the classic stream queue" },
		);
		expect(queues.get(names.queue.name)?.type).toBe("classic");
		expect(queues.get(names.queue.deadLetterQueue)?.type).toBe("quorum");
	});
});
