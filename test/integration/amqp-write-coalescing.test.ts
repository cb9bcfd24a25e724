/**
 * amqplib connections with their frames coalesced (lib/infra/amqp-write-coalescing.ts), on the
 * real RabbitMQ: 50 messages published in one turn leave in a handful of socket writes (without
 * it, one each), arrive all, intact and in order; and acks made in one turn likewise. Writes are
 * counted as the kernel counts them (/proc/self/io `syscw`), beside the same burst on a plain
 * connection in the same test.
 */
import { readFileSync } from "node:fs";
import amqp, { type ChannelModel } from "amqplib";
import { coalesceWrites } from "../../lib/infra/amqp-write-coalescing";
import { describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

const BURST = 50;

/** write system calls this process made so far */
const writes = () => Number(/syscw:\s*(\d+)/.exec(readFileSync("/proc/self/io", "utf8"))?.[1]);

/** Publish a burst in one turn; the writes the process made until the broker confirmed all of it. */
async function publishBurst(connection: ChannelModel, queue: string): Promise<number> {
	const channel = await connection.createConfirmChannel();
	await channel.assertQueue(queue, { exclusive: true });
	const before = writes();
	for (let i = 0; i < BURST; i++) channel.sendToQueue(queue, Buffer.from(`message ${i}`));
	await channel.waitForConfirms();
	return writes() - before;
}

describeWithInfra(["rabbitmq"], "amqplib frames of one turn in one socket write", () => {
	let plain: ChannelModel;
	let coalesced: ChannelModel;

	beforeAll(async () => {
		plain = await amqp.connect(INFRA_URLS.rabbitmq);
		coalesced = await amqp.connect(INFRA_URLS.rabbitmq);
		expect(coalesceWrites(coalesced)).toBe(true);
	});

	afterAll(async () => {
		await plain?.close();
		await coalesced?.close();
	});

	test("a burst of publishes: one write each on a plain connection, a few on a coalesced one; every message there, in order", async () => {
		const plainWrites = await publishBurst(plain, uniqueName("coalesce-plain"));
		const queue = uniqueName("coalesce-corked");
		const coalescedWrites = await publishBurst(coalesced, queue);
		expect(plainWrites).toBeGreaterThanOrEqual(BURST);
		expect(coalescedWrites).toBeLessThanOrEqual(5);

		const channel = await coalesced.createChannel();
		const received: string[] = [];
		await channel.consume(
			queue,
			(msg) => {
				if (msg) received.push(msg.content.toString());
			},
			{ noAck: true },
		);
		await waitFor(() => received.length === BURST || null, { what: `${BURST} messages` });
		expect(received).toEqual(Array.from({ length: BURST }, (_, i) => `message ${i}`));
	});

	test("acks made in one turn leave together, and the broker takes every one", async () => {
		const queue = uniqueName("coalesce-acks");
		const channel = await coalesced.createChannel();
		await channel.assertQueue(queue, { exclusive: true });
		for (let i = 0; i < BURST; i++) channel.sendToQueue(queue, Buffer.from(`ack ${i}`));
		await channel.prefetch(BURST);
		const held: amqp.ConsumeMessage[] = [];
		await channel.consume(queue, (msg) => {
			if (msg) held.push(msg);
		});
		await waitFor(() => held.length === BURST || null, { what: `${BURST} deliveries` });
		const before = writes();
		for (const msg of held) channel.ack(msg);
		// amqplib writes them on a later turn (its multiplexer's setImmediate): a few turns on
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(writes() - before).toBeLessThanOrEqual(5);
		// all acked: nothing left unacknowledged on the queue once the channel closes
		await channel.close();
		const check = await coalesced.createChannel();
		await waitFor(async () => ((await check.checkQueue(queue)).messageCount === 0 ? true : null), { what: "the queue empty" });
	});

	test("a connection that is not amqplib's shape is left alone", () => {
		expect(coalesceWrites(null)).toBe(false);
		expect(coalesceWrites({ connection: {} })).toBe(false);
	});
});
