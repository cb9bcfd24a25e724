/**
 * The relay's publisher (lib/relay/stream-publisher.ts) against the real RabbitMQ, under a prefix
 * of this test's own:
 *
 * - a message that no queue takes (its binding gone) is confirmed by RabbitMQ and dropped; the
 *   publisher publishes `mandatory`, counts the returned message as not confirmed (so the relay's
 *   checkpoint stays before it), and its next connect declares the binding again;
 * - a broker that stops answering mid-page (a TCP proxy that stops forwarding, the socket left
 *   open) costs the confirm deadline and a bounded close, never a relay stuck for good: amqplib's
 *   own close waits for close-ok without a deadline.
 */
import net from "node:net";
import amqp from "amqplib";
import { type StreamMessage, streamNames } from "../../lib/relay/relay-rules";
import { StreamPublisher } from "../../lib/relay/stream-publisher";
import { deleteEventStream, describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";

jest.setTimeout(60_000);

function message(sequence: number): StreamMessage {
	return {
		sequence,
		routingKey: "client.created",
		body: JSON.stringify({ sequence }),
		properties: { persistent: true, contentType: "application/json", messageId: `m-${sequence}`, timestamp: 0, headers: {} },
	};
}

/** A TCP proxy to RabbitMQ that can stop forwarding in both directions while keeping every socket open. */
async function frozenProxy(): Promise<{ url: string; freeze(): void; close(): Promise<void> }> {
	const sockets = new Set<net.Socket>();
	let frozen = false;
	const server = net.createServer((inbound) => {
		const outbound = net.connect(5672, "127.0.0.1");
		for (const socket of [inbound, outbound]) {
			sockets.add(socket);
			socket.on("error", () => undefined);
		}
		inbound.on("data", (chunk) => {
			if (!frozen) outbound.write(chunk);
		});
		outbound.on("data", (chunk) => {
			if (!frozen) inbound.write(chunk);
		});
		inbound.on("close", () => outbound.destroy());
		outbound.on("close", () => inbound.destroy());
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as net.AddressInfo;
	return {
		url: `amqp://guest:guest@127.0.0.1:${port}`,
		freeze: () => {
			frozen = true;
		},
		close: async () => {
			for (const socket of sockets) socket.destroy();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

describeWithInfra(["rabbitmq"], "the stream's publisher", () => {
	const prefix = `${uniqueName("cg-pub").replace(/_/g, "-")}.`;
	const names = streamNames("clients", prefix);

	afterAll(async () => {
		await deleteEventStream(prefix);
	});

	test("a message no queue takes is not confirmed, and the next connect binds the queue again", async () => {
		const broken: string[] = [];
		const publisher = new StreamPublisher(INFRA_URLS.rabbitmq, names, (why) => broken.push(why));
		await publisher.connect();
		expect(await publisher.publish([message(1)])).toEqual([{ sequence: 1, confirmed: true }]);

		const admin = await amqp.connect(INFRA_URLS.rabbitmq);
		try {
			const channel = await admin.createChannel();
			await channel.unbindQueue(names.queue.name, names.exchange, names.queue.bindingKey);
			// RabbitMQ confirms the next message all the same, and drops it: only its return tells
			expect(await publisher.publish([message(2)])).toEqual([{ sequence: 2, confirmed: false }]);
			expect(broken).toEqual([expect.stringContaining("returned 1 message(s)")]);
			expect(publisher.connected).toBe(false);

			await publisher.connect();
			expect(await publisher.publish([message(2)])).toEqual([{ sequence: 2, confirmed: true }]);
			expect((await channel.checkQueue(names.queue.name)).messageCount).toBe(2);
		} finally {
			await publisher.close();
			await admin.close();
		}
	});

	test("a broker that stops answering: the page comes back unconfirmed within the confirm deadline and a bounded close", async () => {
		const proxy = await frozenProxy();
		const broken: string[] = [];
		const publisher = new StreamPublisher(proxy.url, names, (why) => broken.push(why));
		try {
			await publisher.connect();
			proxy.freeze();
			const startedAt = Date.now();
			expect(await publisher.publish([message(3), message(4)])).toEqual([
				{ sequence: 3, confirmed: false },
				{ sequence: 4, confirmed: false },
			]);
			// 10 s for the confirms, at most 2 s for the close; before, the close never ended
			expect(Date.now() - startedAt).toBeLessThan(15_000);
			expect(broken).toEqual([expect.stringContaining("did not confirm")]);
			expect(publisher.connected).toBe(false);
		} finally {
			await publisher.close();
			await proxy.close();
		}
	});
});
