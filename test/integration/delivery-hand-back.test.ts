/**
 * What pausing a consumer asks of the AMQP transporter (lib/infra/amqp-transporter.ts,
 * lib/infra/delivery-hand-back.ts), on the real RabbitMQ with two brokers in this process: an
 * event group held stops being consumed (its queue keeps what is sent, no consumer on it) and is
 * consumed again when released; a delivery whose handler hands it back goes back to its queue
 * (nack, requeue) instead of being acked, also when it was under way as the group was held: it
 * waits there with the others and is delivered again, nothing lost, nothing taken twice.
 */
import { type Context, ServiceBroker } from "moleculer";
import { ResilientAmqpTransporter } from "../../lib/infra/amqp-transporter";
import { takeDelivery } from "../../lib/infra/delivery-hand-back";
import { deleteQueues, describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

const GROUP = "audit";
const EVENT = "client.updated";

describeWithInfra(["rabbitmq"], "handing a delivery back, holding an event group", () => {
	const namespace = uniqueName("cg-handback").replace(/_/g, "-");
	const queue = `MOL-${namespace}.EVENTB.${GROUP}.${EVENT}`;
	/** how each delivery went, by payload id: handed back, or taken */
	const deliveries = new Map<number, string[]>();
	/** payload ids the handler hands back the next time it gets them */
	const handBack = new Set<number>();
	/** while set, the handler waits for it before it answers (a delivery under way) */
	let gate: Promise<void> | null = null;
	const outsideDelivery: boolean[] = [];

	const broker = (nodeID: string) =>
		new ServiceBroker({
			namespace,
			nodeID,
			logger: false,
			disableBalancer: true,
			transporter: new ResilientAmqpTransporter({
				url: INFRA_URLS.rabbitmq,
				autoDeleteQueues: false,
				messageOptions: { persistent: true },
				prefetch: 8,
				ownServices: [GROUP],
			}),
		});
	const emitter = broker("emitter");
	const consumer = broker("consumer");
	const tx = () => consumer.transit?.tx as ResilientAmqpTransporter;
	const depth = async () => (await tx().inspectQueues([queue]))[queue];
	const emit = (id: number) => emitter.emit(EVENT, { id }, { groups: [GROUP] });

	consumer.createService({
		name: GROUP,
		events: {
			[EVENT]: {
				group: GROUP,
				async handler(ctx: Context<{ id: number }>) {
					// taken at the start, as the project's handler does: the transporter's mark reached it through Moleculer's transit
					const delivery = takeDelivery();
					const id = ctx.params.id;
					if (gate) await gate;
					const back = handBack.delete(id);
					if (back) {
						expect(delivery).not.toBeNull();
						delivery?.handBack();
					}
					deliveries.set(id, [...(deliveries.get(id) ?? []), back ? "handed back" : "taken"]);
				},
			},
		},
	});

	beforeAll(async () => {
		await Promise.all([emitter.start(), consumer.start()]);
		await waitFor(async () => (await depth()).consumers === 1, { timeoutMs: 10_000, what: "the consumer on its group queue" });
		// a handler called outside a delivery (no transporter involved) has nothing to hand back
		outsideDelivery.push(takeDelivery() !== null);
	}, 30_000);

	afterAll(async () => {
		await Promise.all([consumer.stop(), emitter.stop()]);
		await deleteQueues(`MOL-${namespace}.`);
	});

	test("given a handler that hands its delivery back, then the message is delivered again, and taken once", async () => {
		expect(outsideDelivery).toEqual([false]);
		handBack.add(1);
		await emit(1);
		await emit(2);
		await waitFor(() => deliveries.get(1)?.includes("taken") && deliveries.get(2)?.includes("taken"), { timeoutMs: 10_000, what: "both taken" });
		expect(deliveries.get(1)).toEqual(["handed back", "taken"]);
		expect(deliveries.get(2)).toEqual(["taken"]);
		await waitFor(async () => (await depth()).messages === 0, { what: "an empty queue" });
	});

	test("given the group held, then its queue has no consumer and keeps what is sent; released, it is all taken, once each", async () => {
		await tx().holdEventGroup(GROUP);
		expect(await depth()).toEqual({ messages: 0, consumers: 0 });
		for (const id of [10, 11, 12, 13, 14]) await emit(id);
		await waitFor(async () => (await depth()).messages === 5, { what: "five messages waiting" });
		expect([10, 11, 12, 13, 14].filter((id) => deliveries.has(id))).toEqual([]);
		// held across a reconnect's rebalance too: asking again changes nothing
		await tx().makeBalancedSubscriptions();
		expect(await depth()).toEqual({ messages: 5, consumers: 0 });

		await tx().releaseEventGroup(GROUP);
		await waitFor(() => [10, 11, 12, 13, 14].every((id) => deliveries.get(id)?.includes("taken")), { timeoutMs: 10_000, what: "all five taken" });
		expect([10, 11, 12, 13, 14].map((id) => deliveries.get(id))).toEqual(Array.from({ length: 5 }, () => ["taken"]));
		expect(await depth()).toEqual({ messages: 0, consumers: 1 });
	});

	test("given deliveries under way when the group is held, then those handed back wait in the queue with what follows, and are taken once released", async () => {
		let open: () => void = () => undefined;
		gate = new Promise((resolve) => (open = resolve));
		for (const id of [20, 21, 22]) {
			handBack.add(id);
			await emit(id);
		}
		// all three delivered (prefetch 8) and held in the handler, unacked
		await waitFor(async () => (await depth()).messages === 0, { what: "the three under way" });
		await tx().holdEventGroup(GROUP);
		await emit(23);
		gate = null;
		open();
		await waitFor(() => [20, 21, 22].every((id) => deliveries.get(id)?.includes("handed back")), { what: "the three handed back" });
		// back in the queue, with the one sent meanwhile, and nobody consuming it
		await waitFor(async () => (await depth()).messages === 4, { timeoutMs: 10_000, what: "four messages waiting" });
		expect((await depth()).consumers).toBe(0);
		expect(deliveries.has(23)).toBe(false);

		await tx().releaseEventGroup(GROUP);
		await waitFor(() => [20, 21, 22, 23].every((id) => deliveries.get(id)?.includes("taken")), { timeoutMs: 10_000, what: "all four taken" });
		expect([20, 21, 22, 23].map((id) => deliveries.get(id))).toEqual([["handed back", "taken"], ["handed back", "taken"], ["handed back", "taken"], ["taken"]]);
		await waitFor(async () => (await depth()).messages === 0, { what: "an empty queue" });
	});
});
