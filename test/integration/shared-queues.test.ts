/**
 * The shared (balanced) queues of a node, on the real RabbitMQ, with real ServiceBrokers using
 * the project's transporter: one consumer per node and queue; a stopping node cancels its
 * consumers before its services stop (Moleculer's AMQP transporter never did); a request that
 * reaches a node which does not serve its action goes back to the queue for another replica; a
 * request whose caller gave up while it waited in the queue is never executed; a message sent to a
 * shared queue that nobody declared yet waits there instead of being dropped.
 */
import amqp, { type ChannelModel } from "amqplib";
import { type Context, ServiceBroker, type ServiceSchema } from "moleculer";
import { METRICS } from "../../lib/constants";
import { ResilientAmqpTransporter } from "../../lib/infra/amqp-transporter";
import { deleteQueues, describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(60_000);

describeWithInfra(["rabbitmq"], "shared queues", () => {
	const namespace = uniqueName("cg-shared").replace(/_/g, "-");
	const prefix = `MOL-${namespace}`;
	const brokers: ServiceBroker[] = [];
	let connection: ChannelModel;

	/** depth and consumers of a queue; a missing one (not declared yet) is a channel error, so each question has its own channel */
	async function inspect(queue: string): Promise<{ messages: number; consumers: number }> {
		const probe = await connection.createChannel();
		probe.on("error", () => undefined);
		try {
			const { messageCount, consumerCount } = await probe.checkQueue(queue);
			return { messages: messageCount, consumers: consumerCount };
		} catch {
			return { messages: 0, consumers: 0 };
		} finally {
			await probe.close().catch(() => undefined);
		}
	}
	const consumersOf = async (queue: string): Promise<number> => (await inspect(queue)).consumers;

	function broker(nodeID: string, ...services: ServiceSchema[]): ServiceBroker {
		const node = new ServiceBroker({
			namespace,
			nodeID,
			logger: false,
			transporter: new ResilientAmqpTransporter({ url: INFRA_URLS.rabbitmq, autoDeleteQueues: false, prefetch: 4 }),
			disableBalancer: true,
			metrics: { enabled: true },
			requestTimeout: 20_000,
			tracking: { enabled: true, shutdownTimeout: 5_000 },
		});
		for (const service of services) node.createService(service);
		brokers.push(node);
		return node;
	}

	/** requests being handled now, by node */
	const running = new Map<string, number>();

	/** A service answering with the node that served it, and noting how many consumers its queue had when it stopped. */
	function echo(name: string, onStopped?: () => Promise<void>): ServiceSchema {
		return {
			name,
			actions: {
				hi: {
					async handler(ctx: Context<{ delayMs?: number }>) {
						const node = ctx.broker.nodeID;
						running.set(node, (running.get(node) ?? 0) + 1);
						await new Promise((resolve) => setTimeout(resolve, ctx.params.delayMs ?? 0));
						running.set(node, (running.get(node) ?? 0) - 1);
						return node;
					},
				},
			},
			events: { "thing.happened": { group: name, handler: () => undefined } },
			stopped: onStopped,
		};
	}

	beforeAll(async () => {
		connection = await amqp.connect(INFRA_URLS.rabbitmq);
	});

	afterAll(async () => {
		await Promise.all(brokers.map((node) => node.stop().catch(() => undefined)));
		await connection?.close();
		await deleteQueues(`${prefix}.`);
	});

	test("two replicas: one consumer each; a stopping replica cancels its consumers before its service stops, and finishes what it took", async () => {
		let consumersWhenStopped: Record<string, number> = {};
		const one = broker(
			"one",
			echo("echo", async () => {
				consumersWhenStopped = {
					requests: await consumersOf(`${prefix}.REQB.echo.hi`),
					events: await consumersOf(`${prefix}.EVENTB.echo.thing.happened`),
				};
			}),
		);
		const two = broker("two", echo("echo"));
		const caller = broker("caller");
		await Promise.all([one.start(), two.start(), caller.start()]);
		await caller.waitForServices("echo", 15_000);
		await waitFor(async () => (await consumersOf(`${prefix}.REQB.echo.hi`)) === 2 && (await consumersOf(`${prefix}.EVENTB.echo.thing.happened`)) === 2, {
			timeoutMs: 15_000,
			what: "both replicas consuming the shared queues",
		});
		// a node that announced its service list again (as on every change) does not consume twice
		await one.transit?.tx.makeBalancedSubscriptions();
		expect(await consumersOf(`${prefix}.REQB.echo.hi`)).toBe(2);

		// each replica holds its prefetch (4) of slow requests when one of them stops
		const held = Array.from({ length: 8 }, () => caller.call<string, { delayMs: number }>("echo.hi", { delayMs: 500 }));
		await waitFor(() => running.get("one") === 4 && running.get("two") === 4, { timeoutMs: 5_000, what: "each replica holding 4 calls" });
		const stopping = one.stop();
		const later = Array.from({ length: 8 }, () => caller.call<string>("echo.hi"));
		await stopping;
		expect(consumersWhenStopped).toEqual({ requests: 1, events: 1 });
		// what the stopping replica held it finished and answered; what came later went to the other
		expect((await Promise.all(held)).sort()).toEqual([..."11112222"].map((n) => (n === "1" ? "one" : "two")));
		expect(new Set(await Promise.all(later))).toEqual(new Set(["two"]));
	});

	test("a request taken by a node that does not serve its action goes back to the queue and is answered by a replica that does", async () => {
		const server = broker("server", echo("greeter"));
		const stranger = broker("stranger");
		await Promise.all([server.start(), stranger.start()]);
		await stranger.waitForServices("greeter", 15_000);
		await waitFor(async () => (await consumersOf(`${prefix}.REQB.greeter.hi`)) === 1, { timeoutMs: 15_000, what: "the server consuming" });
		// the stranger consumes echo.hi's queue without serving it, as a node whose service is
		// not registered yet or any more would
		await stranger.transit?.tx.subscribeBalancedRequest("greeter.hi");
		await waitFor(async () => (await consumersOf(`${prefix}.REQB.greeter.hi`)) === 2, { timeoutMs: 5_000, what: "both consuming greeter.hi" });

		const answers = await Promise.all(Array.from({ length: 40 }, () => stranger.call<string>("greeter.hi")));
		expect(new Set(answers)).toEqual(new Set(["server"]));
		const handedBack = stranger.metrics.getMetric(METRICS.requestsHandedBack)?.snapshot() as Array<{ value: number }> | undefined;
		expect((handedBack ?? []).reduce((sum, item) => sum + item.value, 0)).toBeGreaterThan(0);
	});

	test("a request still queued when its caller timed out is dropped, not executed when a consumer comes back", async () => {
		let executed = 0;
		const server = broker("late-server", {
			name: "late",
			actions: {
				hi: () => {
					executed++;
					return "done";
				},
			},
		});
		const caller = broker("late-caller");
		await Promise.all([server.start(), caller.start()]);
		await caller.waitForServices("late", 15_000);
		const queue = `${prefix}.REQB.late.hi`;
		await waitFor(async () => (await consumersOf(queue)) === 1, { timeoutMs: 15_000, what: "the server consuming" });

		// the server stops consuming (as an overloaded or frozen replica takes nothing) while
		// its service stays registered: five calls wait in the queue until their callers give up
		await server.transit?.tx.unsubscribeFromBalancedCommands();
		await waitFor(async () => (await consumersOf(queue)) === 0, { timeoutMs: 5_000, what: "no consumer left" });
		const abandoned = await Promise.allSettled(Array.from({ length: 5 }, () => caller.call("late.hi", {}, { timeout: 300, retries: 0 })));
		expect(abandoned.map((outcome) => (outcome.status === "rejected" ? (outcome.reason as Error).name : "answered"))).toEqual(
			Array(5).fill("RequestTimeoutError"),
		);

		// RabbitMQ drops them when their time to live (the callers' timeout) has passed: without
		// it they would wait here until a consumer came and then run for nobody
		await waitFor(async () => (await inspect(queue)).messages === 0, { timeoutMs: 5_000, what: "the abandoned calls dropped from the queue" });
		// consuming again: the queue is first in, first out, so a fresh call answered means
		// nothing is left before it; none of the five ran
		await server.transit?.tx.makeBalancedSubscriptions();
		await waitFor(async () => (await consumersOf(queue)) === 1, { timeoutMs: 5_000, what: "the server consuming again" });
		expect(await caller.call("late.hi")).toBe("done");
		expect(executed).toBe(1);
	});

	test("a node's first call to its own action, right after it started, is answered; an event for a group with no node yet waits for it", async () => {
		// With disableBalancer a call goes through the action's shared queue even when this node
		// serves it, and the node declares its own consumers only with its debounced INFO (1 s
		// later): before, RabbitMQ dropped that first request (the call timed out) and the event.
		let received = 0;
		const node = broker("first-caller", {
			name: "firstcall",
			actions: { hi: { handler: () => "hello" } },
		});
		await node.start();
		expect(await node.call("firstcall.hi", {}, { timeout: 5_000, retries: 0 })).toBe("hello");

		await node.emit("thing.first", { n: 1 }, { groups: ["latecomers"] });
		const latecomer = broker("latecomer", {
			name: "latecomers",
			events: {
				"thing.first": {
					handler() {
						received++;
					},
				},
			},
		});
		await latecomer.start();
		await waitFor(async () => received === 1, { timeoutMs: 15_000, what: "the event emitted before its group's first node started" });
	});
});
