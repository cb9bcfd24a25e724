/**
 * A program outside Moleculer reading the events stream with plain amqplib (no Moleculer, nothing
 * from this project): what a consumer in any language does, in TypeScript.
 *
 *   AMQP_URL=amqp://guest:guest@127.0.0.1:5672 node --import tsx examples/amqp-consumer.ts
 *
 * It consumes the durable queue `client.events` (each client event once, shared by every copy
 * of this program that reads it), prints each event and acks it after handling. Options:
 *
 *   --queue client.events,goal.events   the queues to read (default client.events; QUEUE= too)
 *   --json                              one JSON line per delivery: queue, routing key, AMQP
 *                                       properties, body, what was done with it
 *   --requeue-first                     nack the first delivery of each message with requeue:
 *                                       RabbitMQ delivers it again, marked `redelivered`
 *   --reject                            reject every message without requeue: RabbitMQ moves it
 *                                       to the queue's dead-letter queue (client.events.dlq)
 *
 * Delivery is at least once: a message may come twice (not acked before a crash, or published
 * again by the relay after a broker restart). Deduplicate by `message_id` (the event's eventId),
 * or apply an entity's event only when its `version` is above the one you hold.
 * It reconnects every second when the broker goes away, when RabbitMQ closes its channel or
 * cancels its consumer (a connection that stays open consumes nothing more then), and stops on
 * SIGINT / SIGTERM.
 * AMQP_URL may list several RabbitMQ nodes of one cluster separated by `;`: each connection
 * attempt takes the next one (the stream's queues are quorum queues there: AMQP_QUEUE_TYPE=quorum).
 */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from "amqplib";

const urls = (process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672")
	.split(";")
	.map((part) => part.trim())
	.filter(Boolean);
let attempts = 0;
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const queueArg = args[args.indexOf("--queue") + 1];
const queues = (args.includes("--queue") && queueArg ? queueArg : (process.env.QUEUE ?? "client.events")).split(",").filter(Boolean);
const json = flag("--json");
const requeueFirst = flag("--requeue-first");
const reject = flag("--reject");

/** message ids handled (acked) so far: a second delivery of one is a duplicate */
const handled = new Set<string>();
/** message ids nacked once with requeue (--requeue-first) */
const requeued = new Set<string>();
let connection: ChannelModel | null = null;
let stopping = false;

function report(queue: string, msg: ConsumeMessage, action: "ack" | "requeue" | "reject", duplicate: boolean): void {
	const { fields, properties } = msg;
	const body = JSON.parse(msg.content.toString("utf8")) as Record<string, unknown>;
	if (json) {
		const line = {
			queue,
			routingKey: fields.routingKey,
			exchange: fields.exchange,
			redelivered: fields.redelivered,
			duplicate,
			action,
			properties: {
				messageId: properties.messageId,
				contentType: properties.contentType,
				deliveryMode: properties.deliveryMode,
				timestamp: properties.timestamp,
				headers: properties.headers ?? {},
			},
			body,
		};
		process.stdout.write(`${JSON.stringify(line)}\n`);
		return;
	}
	const notes = [fields.redelivered ? "redelivered" : "", duplicate ? "duplicate: already handled, acked again" : "", action !== "ack" ? action : ""].filter(
		Boolean,
	);
	const requestId = properties.headers?.["x-request-id"];
	console.log(
		`${fields.routingKey} #${String(body.sequence)} v${String(body.version)} id=${String(properties.messageId)}${requestId ? ` request=${String(requestId)}` : ""}${notes.length ? ` (${notes.join(", ")})` : ""}`,
	);
	console.log(`  ${JSON.stringify(body)}`);
}

function handle(channel: Channel, queue: string, msg: ConsumeMessage | null, lost: (why: string) => void): void {
	if (!msg) {
		// RabbitMQ cancelled the consumer (the queue was deleted, or its node went): consume again on a new connection
		lost(`RabbitMQ cancelled the consumer of ${queue}`);
		return;
	}
	const id = String(msg.properties.messageId);
	if (reject) {
		report(queue, msg, "reject", false);
		channel.nack(msg, false, false);
		return;
	}
	if (requeueFirst && !requeued.has(id)) {
		requeued.add(id);
		report(queue, msg, "requeue", false);
		channel.nack(msg, false, true);
		return;
	}
	const duplicate = handled.has(id);
	// handle the event here (idempotently); then ack
	handled.add(id);
	report(queue, msg, "ack", duplicate);
	channel.ack(msg);
}

async function consume(): Promise<void> {
	const url = urls[attempts++ % urls.length];
	const opened = await amqp.connect(url);
	connection = opened;
	let consuming = false;
	/** told once, whatever went first: the connection, the channel or a consumer */
	let gone = false;
	const lost = (why: string) => {
		if (connection === opened) connection = null;
		// a connection that failed while setting up is retried by reconnect's own loop
		if (stopping || !consuming || gone) return;
		gone = true;
		console.error(`${why}: reconnecting every second.`);
		// the connection may still be open (a channel closed by RabbitMQ leaves it so): never sit on it deaf
		void opened.close().catch(() => undefined);
		void reconnect();
	};
	opened.on("error", () => undefined);
	opened.on("close", () => lost("Connection to RabbitMQ lost"));
	const channel = await opened.createChannel();
	channel.on("error", (err: Error) => console.error(`RabbitMQ closed the channel: ${err.message}`));
	// a channel RabbitMQ closes (e.g. a 406 for an ack it does not know) leaves the connection open and consumes nothing more
	// (deferred: when the connection goes, amqplib closes its channels first, and the connection's reason is the one to tell)
	channel.on("close", () => setImmediate(() => lost("Channel to RabbitMQ closed")));
	await channel.prefetch(50);
	for (const queue of queues) {
		// the relay declares the queues; a missing one is an error (404) that closes the channel
		await channel.checkQueue(queue);
		await channel.consume(queue, (msg) => handle(channel, queue, msg, lost));
	}
	consuming = true;
	console.error(`Consuming ${queues.join(", ")} at ${url.replace(/\/\/[^@/]*@/, "//")}.`);
}

async function reconnect(): Promise<void> {
	while (!stopping) {
		try {
			await consume();
			return;
		} catch (err) {
			await connection?.close().catch(() => undefined);
			connection = null;
			console.error(`Cannot consume yet (${(err as Error).message}); trying again in 1 s.`);
			await new Promise((resolve) => setTimeout(resolve, 1000));
		}
	}
}

function stop(): void {
	stopping = true;
	const open = connection;
	connection = null;
	void (open ? open.close().catch(() => undefined) : Promise.resolve()).then(() => process.exit(0));
}

process.on("SIGINT", stop);
process.on("SIGTERM", stop);
void reconnect();
