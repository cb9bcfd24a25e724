/**
 * Moleculer's AMQP transporter, made to survive what RabbitMQ does behind its back, and to
 * answer the readiness probe's queue questions without risking the node.
 *
 * - When RabbitMQ closes the channel but not the connection (a channel error, a forced close),
 *   Moleculer's transporter only forgets the channel (moleculerjs/moleculer#692): the node still
 *   says it is connected, but publishes nothing and consumes nothing. Here such a close ends the
 *   connection too, which Moleculer's transit treats as a lost connection: it reconnects, opens
 *   a new channel and subscribes again.
 * - When a queue the node consumes is deleted, RabbitMQ cancels the consumer and amqplib calls
 *   the consumer with `null`. Moleculer's callback then throws on `msg.content`, the throw
 *   becomes a connection error, and the whole node reconnects (5 s without a transporter, every
 *   request in flight failed). Here that one queue is declared and consumed again.
 * - A message is acked on the channel that delivered it, and no ack or nack throws.
 *
 * The subscribe methods below are Moleculer 0.15's own (src/transporters/amqp.js), with the
 * consumer callback knowing its channel and how to subscribe again.
 */
import type { Channel, ChannelModel, ConsumeMessage, Options } from "amqplib";
import { Transporters } from "moleculer";

/** Moleculer's packet types that this file names (moleculer/src/packets.js). */
const PACKET_REQUEST = "REQ";
const PACKET_EVENT = "EVENT";

/** How long after RabbitMQ cancelled a consumer its queue is declared and consumed again. */
const RESUBSCRIBE_DELAY_MS = 1000;

/** What RabbitMQ says about one queue; `missing` when it does not exist (a passive declare's 404). */
export type QueueState =
	| { messages: number; consumers: number }
	| { messages: null; consumers: 0; missing: true }
	| { messages: null; consumers: null; error: string };

/** amqplib's error for a channel the server closed: `code` is the AMQP reply code (404 NOT_FOUND). */
function replyCode(err: unknown): number | undefined {
	const code = (err as { code?: unknown } | null)?.code;
	return typeof code === "number" ? code : undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
	return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}

export class ResilientAmqpTransporter extends Transporters.AMQP {
	/**
	 * The readiness probe's own channel on this connection, opened on first use. A passive check
	 * of a missing queue is a channel error: RabbitMQ closes the channel it was asked on. On the
	 * transporter's channel that would stop consuming; on a channel without an 'error' listener
	 * amqplib's EventEmitter throws, the throw turns into a connection 'error', and a connection
	 * without a listener kills the process (what an unauthenticated `GET /api/ready` did).
	 */
	private probeChannel: Promise<Channel> | null = null;
	/** the queue checks running now, by question: concurrent readiness calls share one instead of piling up */
	private readonly probing = new Map<string, Promise<Record<string, QueueState>>>();

	override async connect(...args: unknown[]): Promise<void> {
		// Moleculer passes an error callback for failures after the connection was made.
		await (Transporters.AMQP.prototype.connect as (...a: unknown[]) => Promise<void>).apply(this, args);
		const channel = this.channel as Channel | null;
		const connection = this.connection as ChannelModel | null;
		channel?.on("close", () => this.reconnect(connection, "AMQP channel closed while the connection is up"));
	}

	/** Close `connection` (if it is still the current one) so that Moleculer's transit reconnects and subscribes again. */
	private reconnect(connection: ChannelModel | null, why: string): void {
		if (!connection || this.channelDisconnecting || this.connectionDisconnecting || this.connection !== connection) return;
		this.logger.warn(`${why}: closing the connection to reconnect.`);
		connection.close().catch(() => undefined);
	}

	override subscribe(cmd: string, nodeID?: string): Promise<void> {
		const channel = this.channel as Channel | null;
		if (!channel) return Promise.resolve();
		const again = () => this.subscribe(cmd, nodeID);
		const topic = this.getTopicName(cmd, nodeID);
		// Topics of this node alone (its requests, responses, …) need no exchange.
		if (nodeID != null) {
			const needAck = cmd === PACKET_REQUEST;
			return channel
				.assertQueue(topic, this._getQueueOptions(cmd))
				.then(() => channel.consume(topic, this.consumer(channel, cmd, needAck, again), { noAck: !needAck, ...this.opts.consumeOptions }))
				.then(() => undefined);
		}
		// Broadcasts: a queue of this node's own, bound to the topic's fanout exchange.
		const queue = `${this.prefix}.${cmd}.${this.nodeID}`;
		const binding = [queue, topic, ""];
		if (!this.bindings.some((known) => known.join("\n") === binding.join("\n"))) this.bindings.push(binding);
		return Promise.all([channel.assertExchange(topic, "fanout", this.opts.exchangeOptions), channel.assertQueue(queue, this._getQueueOptions(cmd))])
			.then(() =>
				Promise.all([
					channel.bindQueue(queue, topic, ""),
					channel.consume(queue, this.consumer(channel, cmd, false, again), { noAck: true, ...this.opts.consumeOptions }),
				]),
			)
			.then(() => undefined);
	}

	override subscribeBalancedRequest(action: string): Promise<void> {
		const channel = this.channel as Channel | null;
		if (!channel) return Promise.resolve();
		const queue = `${this.prefix}.${PACKET_REQUEST}B.${action}`;
		const again = () => this.subscribeBalancedRequest(action);
		return channel
			.assertQueue(queue, this._getQueueOptions(PACKET_REQUEST, true))
			.then(() => channel.consume(queue, this.consumer(channel, PACKET_REQUEST, true, again), this.opts.consumeOptions as Options.Consume))
			.then(() => undefined);
	}

	override subscribeBalancedEvent(event: string, group: string): Promise<void> {
		const channel = this.channel as Channel | null;
		if (!channel) return Promise.resolve();
		const queue = `${this.prefix}.${PACKET_EVENT}B.${group}.${event}`;
		const again = () => this.subscribeBalancedEvent(event, group);
		return channel
			.assertQueue(queue, this._getQueueOptions(`${PACKET_EVENT}LB`, true))
			.then(() => channel.consume(queue, this.consumer(channel, PACKET_EVENT, true, again), this.opts.consumeOptions as Options.Consume))
			.then(() => undefined);
	}

	/**
	 * The consumer callback of one subscription on `channel`. A message is acked (after its
	 * handler, when `needAck`) on the channel that delivered it: Moleculer acks on whatever
	 * `this.channel` is when the handler finishes, which after a reconnect is a new channel where
	 * the old delivery tag is unknown (PRECONDITION_FAILED closes it, and the connection again)
	 * or names another message. A message whose channel is gone was requeued by RabbitMQ when
	 * the channel closed: there is nothing left to ack. Nothing here throws or rejects: amqplib
	 * would turn a throw into a connection error, and a rejection nobody handles ends the process.
	 */
	private consumer(channel: Channel, cmd: string, needAck: boolean, again: () => Promise<void>): (msg: ConsumeMessage | null) => void | Promise<void> {
		const settle = (msg: ConsumeMessage, ack: boolean) => {
			if (channel !== this.channel) return;
			try {
				if (ack) channel.ack(msg);
				else channel.nack(msg);
			} catch (err) {
				this.logger.warn(`AMQP ${ack ? "ack" : "nack"} failed: ${(err as Error).message}`);
			}
		};
		return (msg) => {
			if (msg === null) {
				this.consumerCancelled(channel, cmd, again);
				return;
			}
			let result: unknown;
			try {
				result = this.receive(cmd, msg.content);
			} catch (err) {
				this.logger.error("AMQP message handling error.", err);
				if (needAck) settle(msg, false);
				return;
			}
			if (!isThenable(result)) {
				if (needAck) settle(msg, true);
				return;
			}
			return Promise.resolve(result).then(
				() => {
					if (needAck) settle(msg, true);
				},
				(err: unknown) => {
					this.logger.error("AMQP message handling error.", err);
					if (needAck) settle(msg, false);
				},
			);
		};
	}

	/**
	 * RabbitMQ cancelled a consumer: its queue was deleted (by an operator, a policy, a test).
	 * Messages that were in it are gone (consumers catch up from the producer's log); the queue
	 * is declared and consumed again after a moment, on the same channel unless the connection
	 * was renewed meanwhile (then the new subscription already did it).
	 */
	private consumerCancelled(channel: Channel, cmd: string, again: () => Promise<void>): void {
		this.logger.warn(`AMQP consumer of a ${cmd} queue cancelled by RabbitMQ (queue deleted?): subscribing again in ${RESUBSCRIBE_DELAY_MS} ms.`);
		const timer = setTimeout(() => {
			if (channel !== this.channel || this.channelDisconnecting || this.connectionDisconnecting) return;
			again().catch((err: Error) => {
				// a failed declare is a channel error: the channel closes and the connection is renewed
				this.logger.warn(`Subscribing again after a cancelled consumer failed: ${err.message}`);
			});
		}, RESUBSCRIBE_DELAY_MS);
		timer.unref();
	}

	/**
	 * Depth and consumers of each queue, asked on the probe's own channel. Never rejects: a
	 * missing queue is reported as missing, any other failure as an error, and the channel a
	 * 404 closed is opened again for the next question.
	 */
	inspectQueues(names: readonly string[]): Promise<Record<string, QueueState>> {
		const key = names.join("\n");
		let running = this.probing.get(key);
		if (!running) {
			running = this.inspect(names).finally(() => this.probing.delete(key));
			this.probing.set(key, running);
		}
		return running;
	}

	private async inspect(names: readonly string[]): Promise<Record<string, QueueState>> {
		const result: Record<string, QueueState> = {};
		for (const name of names) {
			try {
				const channel = await this.openProbeChannel();
				const { messageCount, consumerCount } = await channel.checkQueue(name);
				result[name] = { messages: messageCount, consumers: consumerCount };
			} catch (err) {
				result[name] =
					replyCode(err) === 404
						? { messages: null, consumers: 0, missing: true }
						: { messages: null, consumers: null, error: (err as Error).message };
			}
		}
		return result;
	}

	private openProbeChannel(): Promise<Channel> {
		if (this.probeChannel) return this.probeChannel;
		const connection = this.connection as ChannelModel | null;
		if (!connection || !this.connected) return Promise.reject(new Error("the transporter is not connected"));
		const opening = connection.createChannel().then((channel) => {
			// expected: a 404 of checkQueue (the pending call rejects with the same error)
			channel.on("error", (err: Error) => this.logger.debug(`Queue probe channel: ${err.message}`));
			channel.on("close", () => {
				if (this.probeChannel === opening) this.probeChannel = null;
			});
			return channel;
		});
		// a failed open is not kept: the next probe tries again
		opening.catch(() => {
			if (this.probeChannel === opening) this.probeChannel = null;
		});
		this.probeChannel = opening;
		return opening;
	}
}
