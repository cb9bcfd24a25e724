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
 * confirmed, refused, or never answered because the connection dropped or the confirms did not
 * come in time. It never rejects; after a failure the publisher is closed and `connect` starts over.
 */
import type { ChannelModel, ConfirmChannel, Options } from "amqplib";
import { AMQP_STREAM } from "../domain/amqp-stream";
import { PRECONDITION_FAILED, queueTypeMismatch, queueTypeMismatchMessage, replyCode } from "../infra/amqp-queues";
import { brokerLabel, brokerUrls, urlForAttempt } from "../infra/amqp-urls";
import type { Outcome, StreamMessage, StreamNames } from "./relay-rules";

/** How long a page's confirms may take before the connection is taken for dead. */
const CONFIRM_TIMEOUT_MS = 10_000;

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
		const connection = await amqp.connect(url, { noDelay: true });
		// an 'error' without a listener would kill the process; 'close' follows it and says it all
		connection.on("error", () => undefined);
		try {
			const channel = await connection.createConfirmChannel();
			channel.on("error", () => undefined);
			await this.declare(connection, channel);
			const broken = (why: string) => {
				if (this.connection !== connection) return;
				this.connection = null;
				this.channel = null;
				connection.close().catch(() => undefined);
				this.onBroken(why);
			};
			connection.on("close", () => broken("the connection to RabbitMQ closed"));
			channel.on("close", () => broken("RabbitMQ closed the relay's channel"));
			this.connection = connection;
			this.channel = channel;
			this.connectedTo = brokerLabel(url);
		} catch (err) {
			await connection.close().catch(() => undefined);
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
		const answers = messages.map(
			(message) =>
				new Promise<Outcome>((resolve) => {
					try {
						channel.publish(this.names.exchange, message.routingKey, Buffer.from(message.body), message.properties, (err) =>
							resolve({ sequence: message.sequence, confirmed: err === null || err === undefined }),
						);
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
		if (result !== "late") return result;
		// no answer in time: the connection is as good as dead; what was not confirmed is sent again
		this.channel = null;
		const connection = this.connection;
		this.connection = null;
		await connection?.close().catch(() => undefined);
		this.onBroken(`RabbitMQ did not confirm within ${CONFIRM_TIMEOUT_MS} ms`);
		return messages.map((message, index) => settled[index] ?? { sequence: message.sequence, confirmed: false });
	}

	async close(): Promise<void> {
		const connection = this.connection;
		this.connection = null;
		this.channel = null;
		await connection?.close().catch(() => undefined);
	}
}
