/**
 * The relay's side of RabbitMQ: a connection of its own (not Moleculer's transporter: the stream
 * is for programs outside Moleculer, and its confirms must not wait behind the transporter's
 * traffic), one confirm channel, and the declarations of the stream's exchanges, this producer's
 * queue and its dead-letter queue with exactly the contract's settings (lib/domain/amqp-stream.ts).
 *
 * A queue that exists with other settings (of the other queue type: AMQP_QUEUE_TYPE changed over
 * a running system) is used as it is and said once: each queue is declared on a channel of its
 * own, so that RabbitMQ's refusal (406, which closes the channel) stops neither the relay nor the
 * other declarations, and the relay does not retry into the same refusal forever.
 *
 * The URL may list several RabbitMQ nodes of one cluster separated by `;`: each connect attempt
 * takes the next one, round the list, as Moleculer's transporter does, so a relay whose node died
 * publishes through another one at its next attempt.
 *
 * `publish` sends a page in order and resolves with what the broker answered for each message:
 * confirmed, refused, returned, or never answered because the connection dropped or the confirms
 * did not come in time. It never rejects; after a failure the publisher is closed and `connect`
 * starts over.
 *
 * Every message is published `mandatory`: RabbitMQ confirms a message that no queue took (no
 * binding, a queue gone) as readily as one a queue stored, and drops it; the confirm alone would
 * move the relay's checkpoint past an event the stream never held. A returned message (basic.return
 * comes before its confirm) counts as not confirmed, and the connection is dropped so that the next
 * `connect` declares the topology again before the relay sends it again.
 *
 * Nothing here waits on RabbitMQ without a deadline: amqplib has none for the handshake, the
 * declarations or a close (its `close()` waits for close-ok and never settles when the socket dies
 * first), and a relay stuck on one such call relays nothing more, silently, while its `running`
 * promise never ends. RabbitMQ itself can keep a channel waiting: in a quorum queue's leader
 * election, calls to the queue wait until a leader is known.
 */
import type { ChannelModel, ConfirmChannel, Message, Options } from "amqplib";
import { AMQP_STREAM } from "../domain/amqp-stream";
import { PRECONDITION_FAILED, queueTypeMismatch, queueTypeMismatchMessage, replyCode } from "../infra/amqp-queues";
import { brokerLabel, brokerUrls, urlForAttempt } from "../infra/amqp-urls";
import { coalesceWrites } from "../infra/amqp-write-coalescing";
import type { Outcome, StreamMessage, StreamNames } from "./relay-rules";

/** How long a page's confirms may take before the connection is taken for dead. */
const CONFIRM_TIMEOUT_MS = 10_000;
/** How long connecting (TCP and AMQP handshake), opening the channel and declaring the stream may take. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a close may wait for RabbitMQ's close-ok before the socket is dropped. */
const CLOSE_TIMEOUT_MS = 2000;

/** `work`, or a rejection with `message` once `ms` have passed (the work itself is not stopped: the caller drops its connection). */
async function within<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const late = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(message)), ms);
	});
	try {
		return await Promise.race([work, late]);
	} finally {
		clearTimeout(timer);
	}
}

/**
 * Close `connection` within CLOSE_TIMEOUT_MS; past that, destroy its socket (amqplib then closes
 * its channels and answers their pending calls with errors). Never rejects.
 */
async function closeWithin(connection: ChannelModel): Promise<void> {
	try {
		await within(connection.close(), CLOSE_TIMEOUT_MS, "close-ok did not come");
	} catch {
		// amqplib's Connection keeps its socket as `stream` (not in its published types)
		const socket = (connection.connection as unknown as { stream?: { destroy(err?: Error): void } }).stream;
		socket?.destroy(new Error("the relay dropped a connection that did not close in time"));
	}
}

export class StreamPublisher {
	private connection: ChannelModel | null = null;
	private channel: ConfirmChannel | null = null;
	private readonly urls: string[];
	/** connect attempts so far: which URL the next one takes */
	private attempts = 0;
	/** host:port of the node connected to now (never its credentials), or null */
	private connectedTo: string | null = null;

	/** queues already reported as existing with other settings (said once, not at every connect) */
	private readonly reported = new Set<string>();

	constructor(
		url: string,
		private readonly names: StreamNames,
		/** told once when an open connection or channel closes by itself (a broker restart, a channel error) */
		private readonly onBroken: (why: string) => void,
		/** told what an operator should know: a queue used as it is */
		private readonly warn: (message: string) => void = () => undefined,
	) {
		this.urls = brokerUrls(url);
	}

	get connected(): boolean {
		return this.channel !== null;
	}

	/** host:port of the RabbitMQ node the stream is published to now, or null while not connected */
	get broker(): string | null {
		return this.channel ? this.connectedTo : null;
	}

	/** Connect, open the confirm channel and declare the stream's topology. Rejects with the broker's or socket's error. */
	async connect(): Promise<void> {
		if (this.channel) return;
		// amqplib is loaded only here: a node without a relay (one process, SQLite) does not carry it
		const amqp = require("amqplib") as typeof import("amqplib");
		const url = urlForAttempt(this.urls, ++this.attempts);
		// amqplib's `timeout` bounds the TCP connect and the AMQP handshake
		const connection = await amqp.connect(url, { noDelay: true, timeout: CONNECT_TIMEOUT_MS });
		// a page's publishes in one socket write per turn, not one each
		coalesceWrites(connection);
		// an 'error' without a listener would kill the process; 'close' follows it and says it all
		connection.on("error", () => undefined);
		try {
			const channel = await within(
				(async () => {
					const opened = await connection.createConfirmChannel();
					opened.on("error", () => undefined);
					await this.declare(connection, opened);
					return opened;
				})(),
				CONNECT_TIMEOUT_MS,
				`RabbitMQ did not open the relay's channel and declare the stream within ${CONNECT_TIMEOUT_MS} ms`,
			);
			const broken = (why: string) => {
				if (this.connection !== connection) return;
				this.connection = null;
				this.channel = null;
				void closeWithin(connection);
				this.onBroken(why);
			};
			connection.on("close", () => broken("the connection to RabbitMQ closed"));
			channel.on("close", () => broken("RabbitMQ closed the relay's channel"));
			this.connection = connection;
			this.channel = channel;
			this.connectedTo = brokerLabel(url);
		} catch (err) {
			await closeWithin(connection);
			throw err;
		}
	}

	private async declare(connection: ChannelModel, channel: ConfirmChannel): Promise<void> {
		const { exchange, deadLetterExchange, queue, queueArguments, deadLetterQueueArguments } = this.names;
		const durable = { durable: AMQP_STREAM.exchange.durable, autoDelete: AMQP_STREAM.exchange.autoDelete };
		await channel.assertExchange(exchange, AMQP_STREAM.exchange.type, durable);
		await channel.assertExchange(deadLetterExchange, AMQP_STREAM.deadLetterExchange.type, {
			durable: AMQP_STREAM.deadLetterExchange.durable,
			autoDelete: AMQP_STREAM.deadLetterExchange.autoDelete,
		});
		await this.declareQueue(connection, queue.deadLetterQueue, { durable: true, arguments: deadLetterQueueArguments });
		await channel.bindQueue(queue.deadLetterQueue, deadLetterExchange, queue.deadLetterQueue);
		await this.declareQueue(connection, queue.name, { durable: true, arguments: queueArguments });
		await channel.bindQueue(queue.name, exchange, queue.bindingKey);
	}

	/** Declare `name` on a channel of its own; one that exists with other settings is used as it is (see the file's comment). */
	private async declareQueue(connection: ChannelModel, name: string, options: Options.AssertQueue): Promise<void> {
		const side = await connection.createChannel();
		// a 406 is expected here (the declaring call rejects with the same error)
		side.on("error", () => undefined);
		try {
			await side.assertQueue(name, options);
		} catch (err) {
			if (replyCode(err) !== PRECONDITION_FAILED) throw err;
			if (!this.reported.has(name)) {
				this.reported.add(name);
				const mismatch = queueTypeMismatch((err as Error).message);
				this.warn(
					mismatch
						? queueTypeMismatchMessage(mismatch, this.names.queueType)
						: `Queue '${name}' exists with other settings: the relay uses it as it is. ${(err as Error).message}`,
				);
			}
			// RabbitMQ closed the channel with its refusal
			return;
		}
		await side.close().catch(() => undefined);
	}

	/** Publish `messages` in order and wait for the broker's answers (see the file's comment). */
	async publish(messages: readonly StreamMessage[]): Promise<Outcome[]> {
		const channel = this.channel;
		if (!channel) return messages.map((message) => ({ sequence: message.sequence, confirmed: false }));
		// message ids RabbitMQ returned as routed to no queue (a basic.return comes before the message's confirm)
		const returned = new Set<string>();
		let refused = 0;
		const onReturn = (message: Message) => returned.add(String(message.properties.messageId));
		channel.on("return", onReturn);
		const answers = messages.map(
			(message) =>
				new Promise<Outcome>((resolve) => {
					try {
						channel.publish(this.names.exchange, message.routingKey, Buffer.from(message.body), { ...message.properties, mandatory: true }, (err) => {
							if (err !== null && err !== undefined) refused++;
							resolve({
								sequence: message.sequence,
								confirmed: (err === null || err === undefined) && !returned.has(message.properties.messageId),
							});
						});
					} catch {
						// the channel closed under us: its callbacks are answered with errors, or never called
						resolve({ sequence: message.sequence, confirmed: false });
					}
				}),
		);
		let timer: NodeJS.Timeout | undefined;
		const late = new Promise<"late">((resolve) => {
			timer = setTimeout(() => resolve("late"), CONFIRM_TIMEOUT_MS);
		});
		const settled: Array<Outcome | undefined> = messages.map(() => undefined);
		answers.forEach((answer, index) => {
			void answer.then((outcome) => {
				settled[index] = outcome;
			});
		});
		const result = await Promise.race([Promise.all(answers), late]);
		clearTimeout(timer);
		channel.off("return", onReturn);
		if (result !== "late") {
			if (returned.size > 0)
				// the topology is not what `connect` declared: declare it again (next connect) before sending again
				await this.drop(`RabbitMQ returned ${returned.size} message(s) that no queue took; the stream's topology is declared again`);
			else if (refused > 0)
				// a nack: the queue could not take it on this channel (a quorum queue whose leader died with a
				// node was seen refusing one channel's every publish from then on): start over on a new one
				await this.drop(`RabbitMQ refused ${refused} message(s) (nack); the relay connects again before sending them again`);
			return result;
		}
		// no answer in time: the connection is as good as dead; what was not confirmed is sent again
		await this.drop(`RabbitMQ did not confirm within ${CONFIRM_TIMEOUT_MS} ms`);
		return messages.map((message, index) => settled[index] ?? { sequence: message.sequence, confirmed: false });
	}

	/** Give up the connection (closed within a deadline) and say why: the next `connect` starts over. */
	private async drop(why: string): Promise<void> {
		const connection = this.connection;
		this.channel = null;
		this.connection = null;
		if (connection) await closeWithin(connection);
		this.onBroken(why);
	}

	async close(): Promise<void> {
		const connection = this.connection;
		this.connection = null;
		this.channel = null;
		if (connection) await closeWithin(connection);
	}
}
