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
 * - The node consumes exactly the shared queues of the services it has registered now
 *   (lib/infra/balanced-queues.ts): Moleculer's transporter never cancels a consumer, so a
 *   stopping node went on taking requests and events while its services shut down. Now the
 *   broker's "I stop" announcement (an INFO without services) cancels them first.
 * - A request taken from a shared queue for an action this node does not serve (any more, or
 *   not yet) is handed back to the queue for another replica instead of being answered
 *   "not registered locally" (503).
 * - A request is published with its caller's timeout as the message's time to live: one still
 *   queued when its caller has given up (and answered 504) is dropped by RabbitMQ, not executed.
 *   Moleculer executes every request it receives, so without this an overloaded replica works
 *   through requests nobody waits for any more, the queue never drains, and every later request
 *   times out behind them.
 * - A message for one of the project's own shared queues is published only once that queue
 *   exists (the sender declares it, with the consumers' own options, once per channel). RabbitMQ
 *   silently drops a message sent to a queue nobody declared yet: a node's first call to an action
 *   it serves itself goes through the shared queue (disableBalancer), and its own consumer is only
 *   declared when its debounced INFO goes out, so that call waited out its timeout; and an event
 *   emitted to a group none of whose nodes has started yet was lost to the queue (catch-up
 *   repaired it later).
 * - Neighbours never cost the connection (lib/infra/amqp-declarations.ts): every name another
 *   team's node may share with us (shared queues, the namespace's fanout exchanges) is declared on
 *   a side channel where RabbitMQ's 406 for other arguments is harmless, and another team's group
 *   queues are never declared at all, only published to. A group that subscribed by wildcard
 *   (`client.*`) gets its events in the queue it consumes (Moleculer publishes them under the
 *   emitted name, to a queue nobody reads).
 * - Queues get settings by kind (lib/infra/amqp-queues.ts): the shared queues are durable and of
 *   AMQP_QUEUE_TYPE (quorum: replicated over a RabbitMQ cluster), this node's own queues are
 *   non-durable classic ones, which another RabbitMQ node of the cluster can declare again when
 *   this node's broker died (a durable classic queue homed on a dead node cannot be: the node never
 *   got its subscriptions back). They too are declared on the side channel: one left durable by an
 *   earlier version is deleted and declared again (it is this node's by name). A shared queue of
 *   the other type is used as it is, and the log says so as an error, with what to do.
 * - A paused consumer's event group is held (holdEventGroup): the node stops consuming its queues
 *   (basic.cancel) and consumes them again when it is released, so that its events wait in
 *   RabbitMQ, whatever the restarts meanwhile (the pause is kept in the consumer's database). A
 *   delivery already under way whose handler hands it back (lib/infra/delivery-hand-back.ts)
 *   goes back to its queue instead of being acked.
 * - The URL may list several RabbitMQ nodes (`;`): Moleculer tries the next one on each reconnect.
 *   When the connection is lost, the requests this node is waiting on fail at once with
 *   Moleculer's BrokerDisconnectedError (502; the gateway answers 503) instead of waiting out
 *   their timeout: their answers would come back through a queue on a connection that is gone.
 *   A client retries them with its Idempotency-Key (CONTRACT.md).
 *
 * The subscribe methods below are Moleculer 0.15's own (src/transporters/amqp.js), with the
 * consumer callback knowing its channel and how to subscribe again.
 */
import type { Channel, ChannelModel, ConsumeMessage, Options } from "amqplib";
import { Errors, Transporters, Utils } from "moleculer";
import type { Packet, PacketEventPayload } from "moleculer/src/packets";
import { METRICS } from "../constants";
import { SideChannelDeclarer } from "./amqp-declarations";
import { type QueueType, queueKind, queueOptions, queueTypeMismatch, queueTypeMismatchMessage, replyCode } from "./amqp-queues";
import { brokerLabel, urlForAttempt } from "./amqp-urls";
import {
	type BalancedQueue,
	balancedQueues,
	consumerChanges,
	eventQueue,
	isOwnQueue,
	type ListedService,
	requestQueue,
	requestTtl,
	subscribedEventName,
} from "./balanced-queues";
import { coalesceWrites } from "./amqp-write-coalescing";
import { handlingDelivery } from "./delivery-hand-back";
import { count, registerMetrics } from "./metrics";

/** Moleculer's packet types that this file names (moleculer/src/packets.js). */
const PACKET_REQUEST = "REQ";
const PACKET_EVENT = "EVENT";

/** How long after RabbitMQ cancelled a consumer its queue is declared and consumed again. */
const RESUBSCRIBE_DELAY_MS = 1000;

/**
 * How long a request this node cannot serve is held before it goes back to its queue: RabbitMQ
 * gives a requeued message to the next consumer with room, which may be this node again, and
 * the pause keeps that from spinning while the node's services start or stop.
 */
const HAND_BACK_DELAY_MS = 50;

/** One consumer of a shared queue: on which channel, under which tag (known once RabbitMQ confirmed it). */
interface BalancedConsumer {
	channel: Channel;
	tag: Promise<string | null>;
}

/** The parts of Moleculer's registry this file asks: does this node serve an action now, which events does a group subscribe? */
interface Registry {
	getActionEndpoints(action: string): { localEndpoints: unknown[] } | null | undefined;
	events: { events: Array<{ name: string; group: string }> };
}

/** What RabbitMQ says about one queue; `missing` when it does not exist (a passive declare's 404). */
export type QueueState =
	| { messages: number; consumers: number }
	| { messages: null; consumers: 0; missing: true }
	| { messages: null; consumers: null; error: string };

/** The part of an outgoing Moleculer packet that `send` reads. */
interface OutgoingPacket {
	type: string;
	target?: string | null;
	payload: object & { timeout?: unknown };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
	return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}

/**
 * Moleculer's own error for "this node's transporter is disconnected" (502 BAD_GATEWAY, retryable):
 * its typings ask for a message that its constructor ignores.
 */
function disconnected(): Errors.MoleculerRetryableError {
	return new (Errors.BrokerDisconnectedError as unknown as new () => Errors.MoleculerRetryableError)();
}

/** Moleculer's AMQP options, and ours. */
export interface ResilientAmqpOptions extends Transporters.AMQP.AmqpTransporterOptions {
	url: string | string[];
	/** the services whose shared queues are this project's own (default: every queue) */
	ownServices?: readonly string[];
	/** AMQP_QUEUE_TYPE: the type of the shared queues (default classic) */
	queueType?: QueueType;
	socketOptions?: Record<string, unknown>;
}

/** The part of a request Moleculer's transit waits on (moleculer/src/transit.js, `pendingRequests`). */
interface PendingRequest {
	reject(err: Error): void;
}

/** The part of Moleculer's transit this file reaches into. */
interface TransitInternals {
	pendingRequests: Map<string, PendingRequest>;
	removePendingRequest(id: string): void;
}

export class ResilientAmqpTransporter extends Transporters.AMQP {
	/**
	 * Names others may share with us (queues, fanout exchanges) and this node's own queues are
	 * declared on a side channel, where a refusal (406) costs nothing. A shared queue of the other
	 * type is said so as an error: AMQP_QUEUE_TYPE changed over a running system.
	 */
	private readonly declarer = new SideChannelDeclarer(
		() => this.connection as ChannelModel | null,
		(kind, name, reason) => {
			const mismatch = kind === "queue" ? queueTypeMismatch(reason) : null;
			if (mismatch) this.logger.error(queueTypeMismatchMessage(mismatch, this.queueType));
			else this.logger.info(`The ${kind} '${name}' exists with other arguments (declared by another program): using it as it is. ${reason}`);
		},
	);
	/** the services whose shared queues this node may declare (null: every shared queue) */
	private readonly ownServices: readonly string[] | null;
	/** AMQP_QUEUE_TYPE */
	private readonly queueType: QueueType;

	constructor(options: ResilientAmqpOptions) {
		super(options);
		this.ownServices = options.ownServices ?? null;
		this.queueType = options.queueType ?? "classic";
	}

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
	/** the shared queues consumed now, by queue name */
	private readonly balanced = new Map<string, BalancedConsumer>();
	/** the shared queues the registered services want (a cancelled consumer of another is not renewed) */
	private wanted = new Set<string>();
	/** event groups whose queues this node does not consume now: their consumer is paused */
	private readonly heldGroups = new Set<string>();
	/** requests handed back since the last warning about it, and when that was (warned at most every 10 s) */
	private handedBack = 0;
	private handBackLoggedAt = 0;
	/** changes of the consumer set run one after another */
	private rebalancing: Promise<void> = Promise.resolve();
	/** shared queues this node declared before publishing to them, on which channel (a new channel declares again) */
	private declared = new Map<string, { channel: Channel; ready: Promise<void> }>();
	/** this node's own queues declared, on which connection (a new connection declares again) */
	private readonly privateDeclarations = new Map<string, { connection: ChannelModel | null; ready: Promise<void> }>();
	/** the last transport failure logged, and when (see transportFailure) */
	private lastFailure = { line: "", at: 0 };
	/** host:port of the RabbitMQ node of the current connection (for the log) */
	private connectedTo: string | null = null;
	/** which of TRANSPORTER's URLs that is, as `2 of 3` */
	private connectedPosition: string | null = null;

	/**
	 * Which of TRANSPORTER's RabbitMQ nodes this node is connected to now, as its position in the
	 * list (`2 of 3`), or null while it is not: what `/api/ready` shows. The operator who wrote the
	 * list knows which node that is; whoever else reaches the gateway learns no host or port (the
	 * log line of each connect names the host:port).
	 */
	get rabbitNode(): string | null {
		return this.connected ? this.connectedPosition : null;
	}

	override async connect(...args: unknown[]): Promise<void> {
		registerMetrics(this.broker);
		// Moleculer passes an error callback for failures after the connection was made.
		await (Transporters.AMQP.prototype.connect as (...a: unknown[]) => Promise<void>).apply(this, args);
		const channel = this.channel as Channel | null;
		const connection = this.connection as ChannelModel | null;
		// the frames of one turn (a response, its event, the request's ack) in one socket write
		coalesceWrites(connection);
		channel?.on("close", () => this.reconnect(connection, "AMQP channel closed while the connection is up"));
		connection?.on("close", () => {
			if (!this.connectionDisconnecting) this.failPendingRequests();
		});
		// the URL Moleculer's connect just took: the next one of the list on each attempt
		const urls = this.opts.url as string[];
		const attempt = (this as unknown as { connectAttempt?: number }).connectAttempt ?? 1;
		const before = this.connectedTo;
		this.connectedTo = brokerLabel(urlForAttempt(urls, attempt));
		this.connectedPosition = `${((Math.max(1, attempt) - 1) % urls.length) + 1} of ${urls.length}`;
		const listed = urls.length > 1 ? ` (${urls.length} nodes listed)` : "";
		// a reconnect is worth a warning: it follows the error of the lost connection, and says where the node went
		if (before === null) this.logger.info(`Connected to RabbitMQ at ${this.connectedTo}${listed}.`);
		else this.logger.warn(`Reconnected to RabbitMQ at ${this.connectedTo}${listed}; was at ${before}.`);
	}

	/**
	 * The connection was lost: every request this node waits on fails now with a 502 (see the
	 * file's comment). Moleculer would let each wait out its timeout (10 s, a 504).
	 */
	private failPendingRequests(): void {
		const transit = this.transit as unknown as TransitInternals;
		const pending = [...transit.pendingRequests];
		if (pending.length === 0) return;
		this.logger.warn(`AMQP connection lost: failing the ${pending.length} request(s) this node waits on (their answers cannot arrive).`);
		for (const [id, request] of pending) {
			transit.removePendingRequest(id);
			request.reject(disconnected());
		}
	}

	/**
	 * What a failure of the transport itself becomes for a caller: Moleculer's BrokerDisconnectedError
	 * (502, which the gateway answers 503, and a client retries with its Idempotency-Key), not
	 * amqplib's own error. A publish on a channel that closed under it throws `Channel closed`; a
	 * declaration refused while the node reconnects (a queue whose home node is down) rejects
	 * Moleculer's subscriptions, and Moleculer then rejects every publish with that same error until
	 * the next reconnect. Passed on as they were, both became 500s. The reason is logged here.
	 */
	private transportFailure(err: unknown, what: string): Error {
		if (err instanceof Errors.MoleculerError) return err;
		// every publish fails alike while it lasts: said once, and again after 10 s
		const line = `${what} failed: ${(err as Error)?.message ?? String(err)}`;
		if (line !== this.lastFailure.line || Date.now() - this.lastFailure.at >= 10_000) {
			this.logger.warn(line);
			this.lastFailure = { line, at: Date.now() };
		}
		return disconnected();
	}

	override prepublish(packet: Parameters<Transporters.Base["prepublish"]>[0]): Promise<void> {
		try {
			return Promise.resolve(super.prepublish(packet)).catch((err: unknown) => {
				throw this.transportFailure(err, `Publishing a ${packet.type} packet`);
			});
		} catch (err) {
			return Promise.reject(this.transportFailure(err, `Publishing a ${packet.type} packet`));
		}
	}

	/**
	 * Moleculer's options for a queue of `packetType`, set per kind of queue
	 * (lib/infra/amqp-queues.ts): shared queues durable and of AMQP_QUEUE_TYPE, this node's own
	 * non-durable classic ones.
	 */
	override _getQueueOptions(packetType: string, balancedQueue?: boolean): Options.AssertQueue {
		return queueOptions(queueKind(balancedQueue), this.queueType, super._getQueueOptions(packetType, balancedQueue) as Options.AssertQueue);
	}

	/**
	 * Declare one of this node's own queues. One that exists with other settings was declared by
	 * an earlier version of this node (durable, before they became non-durable): it is this
	 * node's by name, so it is deleted and declared again.
	 */
	private declarePrivate(queue: string, options: Options.AssertQueue): Promise<void> {
		// Moleculer subscribes a broadcast topic and the same topic addressed to this node on one
		// queue (INFO, DISCOVER, PING): one declaration for both, or the second would delete the
		// queue the first had just declared and consumed
		const connection = this.connection as ChannelModel | null;
		const known = this.privateDeclarations.get(queue);
		if (known && known.connection === connection) return known.ready;
		const ready = this.replacePrivate(queue, options);
		this.privateDeclarations.set(queue, { connection, ready });
		ready.catch(() => {
			if (this.privateDeclarations.get(queue)?.ready === ready) this.privateDeclarations.delete(queue);
		});
		return ready;
	}

	private async replacePrivate(queue: string, options: Options.AssertQueue): Promise<void> {
		const declared = await this.declarer.assertOwnQueue(queue, options);
		if (declared.replaced) {
			this.logger.warn(`This node's queue '${queue}' existed with other settings (an earlier version's?): deleted and declared again. ${declared.reason}`);
		}
	}

	/** Close `connection` (if it is still the current one) so that Moleculer's transit reconnects and subscribes again. */
	private reconnect(connection: ChannelModel | null, why: string): void {
		if (!connection || this.channelDisconnecting || this.connectionDisconnecting || this.connection !== connection) return;
		this.logger.warn(`${why}: closing the connection to reconnect.`);
		connection.close().catch(() => undefined);
	}

	/**
	 * Moleculer's send, with a request's time to live: RabbitMQ drops a message whose TTL passed
	 * before it reached a consumer (also after a hand-back: a requeued message keeps its expiry).
	 * A request without a timeout (0) lives until it is taken, as before. A shared queue's
	 * message waits for the queue's declaration (the first one to it on this channel only).
	 */
	override send(topic: string, data: Buffer, meta: { balanced?: boolean; packet: OutgoingPacket }): Promise<void> {
		const channel = this.channel as Channel | null;
		if (!channel) return super.send(topic, data, meta);
		const ttl = meta.packet.type === PACKET_REQUEST ? requestTtl(meta.packet.payload) : null;
		const publish = (): void => {
			if (ttl === null) void super.send(topic, data, meta);
			else channel.sendToQueue(topic, data, { ...(this.opts.messageOptions as Options.Publish), expiration: ttl });
		};
		const ready = meta.balanced ? this.declaredBeforeSend(channel, topic, meta.packet.type) : null;
		if (!ready) {
			publish();
			return Promise.resolve();
		}
		// a declaration that fails (the channel closed under it) publishes nothing: the caller's
		// timeout answers a request, catch-up an event, as for any publish lost with a channel
		return ready.then(publish, () => undefined);
	}

	/** The declaration of shared queue `queue` on `channel`, asked once (null: not a shared queue's packet). */
	private declaredBeforeSend(channel: Channel, queue: string, type: string): Promise<void> | null {
		if (type !== PACKET_REQUEST && type !== PACKET_EVENT) return null;
		const known = this.declared.get(queue);
		if (known?.channel === channel) return known.ready;
		// another team's group queue is its consumers' to declare, with their arguments
		if (this.ownServices && !isOwnQueue(this.prefix, queue, this.ownServices)) return null;
		const options = type === PACKET_REQUEST ? this._getQueueOptions(PACKET_REQUEST, true) : this._getQueueOptions(`${PACKET_EVENT}LB`, true);
		const ready = this.declarer.assertQueue(queue, options).then(() => undefined);
		this.declared.set(queue, { channel, ready });
		ready.catch(() => {
			if (this.declared.get(queue)?.ready === ready) this.declared.delete(queue);
		});
		return ready;
	}

	/**
	 * Moleculer's publish to a group's queue, under the name the group's queue is consumed by
	 * (subscribedEventName: a wildcard group's queue is named after its pattern).
	 */
	override publishBalancedEvent(packet: Packet<PacketEventPayload>, group: string): Promise<void> {
		const event = packet.payload.event;
		const subscriptions = (this.broker.registry as unknown as Registry).events.events.filter((list) => list.group === group).map((list) => list.name);
		const topic = eventQueue(this.prefix, group, subscribedEventName(event, subscriptions, Utils.match));
		return this.send(topic, this.serialize(packet), { packet, balanced: true });
	}

	override subscribe(cmd: string, nodeID?: string): Promise<void> {
		return this.subscribeOwn(cmd, nodeID).catch((err: unknown) => {
			throw this.transportFailure(err, `Subscribing to ${cmd}${nodeID ? ` of ${nodeID}` : ""}`);
		});
	}

	private subscribeOwn(cmd: string, nodeID?: string): Promise<void> {
		const channel = this.channel as Channel | null;
		if (!channel) return Promise.resolve();
		const again = () => this.subscribe(cmd, nodeID);
		const topic = this.getTopicName(cmd, nodeID);
		// Topics of this node alone (its requests, responses, …) need no exchange.
		if (nodeID != null) {
			const needAck = cmd === PACKET_REQUEST;
			return this.declarePrivate(topic, this._getQueueOptions(cmd))
				.then(() => channel.consume(topic, this.consumer(channel, cmd, needAck, again), { noAck: !needAck, ...this.opts.consumeOptions }))
				.then(() => undefined);
		}
		// Broadcasts: a queue of this node's own, bound to the topic's fanout exchange.
		const queue = `${this.prefix}.${cmd}.${this.nodeID}`;
		const binding = [queue, topic, ""];
		if (!this.bindings.some((known) => known.join("\n") === binding.join("\n"))) this.bindings.push(binding);
		// the namespace's exchange is every node's, a neighbour's too: declared where its options cost nothing
		return Promise.all([this.declarer.assertExchange(topic, "fanout", this.opts.exchangeOptions), this.declarePrivate(queue, this._getQueueOptions(cmd))])
			.then(() =>
				Promise.all([
					channel.bindQueue(queue, topic, ""),
					channel.consume(queue, this.consumer(channel, cmd, false, again), { noAck: true, ...this.opts.consumeOptions }),
				]),
			)
			.then(() => undefined);
	}

	/**
	 * Moleculer calls this whenever the node's service list changed (after a service registered,
	 * after a reconnect, and when the broker starts to stop, with no services listed): the
	 * consumers of shared queues are brought to what the services registered now want.
	 */
	override makeBalancedSubscriptions(): Promise<void> {
		const run = this.rebalancing.then(() => this.rebalance());
		this.rebalancing = run.catch(() => undefined);
		return run;
	}

	/**
	 * Stop consuming event group `group`'s queues (its consumer is paused): their messages wait in
	 * RabbitMQ. Resolves once the consumers are cancelled.
	 */
	holdEventGroup(group: string): Promise<void> {
		this.heldGroups.add(group);
		return this.makeBalancedSubscriptions();
	}

	/** Consume event group `group`'s queues again (its consumer runs again). */
	releaseEventGroup(group: string): Promise<void> {
		this.heldGroups.delete(group);
		return this.makeBalancedSubscriptions();
	}

	override unsubscribeFromBalancedCommands(): Promise<void> {
		this.wanted = new Set();
		return Promise.all([...this.balanced.keys()].map((queue) => this.cancelBalanced(queue))).then(() => undefined);
	}

	private async rebalance(): Promise<void> {
		const channel = this.channel as Channel | null;
		const services = (this.broker.getLocalNodeInfo() as unknown as { services?: ListedService[] }).services ?? [];
		const wanted = balancedQueues(this.prefix, services).filter((queue) => queue.kind !== "event" || !this.heldGroups.has(queue.group));
		this.wanted = new Set(wanted.map((queue) => queue.queue));
		// consumers on a channel that is gone went with it
		for (const [queue, consumer] of this.balanced) if (consumer.channel !== channel) this.balanced.delete(queue);
		const { cancel, consume } = consumerChanges(this.balanced.keys(), wanted);
		await Promise.all(cancel.map((queue) => this.cancelBalanced(queue)));
		await Promise.all(consume.map((queue) => this.subscribeTo(queue)));
		if (cancel.length > 0) this.logger.info(`Stopped consuming ${cancel.length} shared queue(s); ${this.balanced.size} left.`);
	}

	private subscribeTo(queue: BalancedQueue): Promise<void> {
		return queue.kind === "request" ? this.subscribeBalancedRequest(queue.action) : this.subscribeBalancedEvent(queue.event, queue.group);
	}

	private async cancelBalanced(queue: string): Promise<void> {
		const consumer = this.balanced.get(queue);
		if (!consumer) return;
		this.balanced.delete(queue);
		const tag = await consumer.tag;
		// a channel that closed took its consumers with it
		if (tag !== null && consumer.channel === this.channel) await consumer.channel.cancel(tag).catch(() => undefined);
	}

	override subscribeBalancedRequest(action: string): Promise<void> {
		const queue = requestQueue(this.prefix, action);
		return this.consumeBalanced(
			queue,
			PACKET_REQUEST,
			this._getQueueOptions(PACKET_REQUEST, true),
			() => this.servesLocally(action),
			() => this.subscribeBalancedRequest(action),
		);
	}

	override subscribeBalancedEvent(event: string, group: string): Promise<void> {
		const queue = eventQueue(this.prefix, group, event);
		return this.consumeBalanced(
			queue,
			PACKET_EVENT,
			this._getQueueOptions(`${PACKET_EVENT}LB`, true),
			() => true,
			() => this.subscribeBalancedEvent(event, group),
		);
	}

	/** Declare `queue` and consume it once on the current channel (a second call while consuming is a no-op). */
	private consumeBalanced(queue: string, cmd: string, options: Options.AssertQueue, serves: () => boolean, again: () => Promise<void>): Promise<void> {
		const channel = this.channel as Channel | null;
		if (!channel || this.balanced.get(queue)?.channel === channel) return Promise.resolve();
		const consuming = this.declarer
			.assertQueue(queue, options)
			.then(() => channel.consume(queue, this.consumer(channel, cmd, true, again, serves, queue), this.opts.consumeOptions as Options.Consume));
		this.balanced.set(queue, {
			channel,
			tag: consuming.then(
				({ consumerTag }) => consumerTag,
				() => null,
			),
		});
		return consuming.then(
			() => undefined,
			(err: unknown) => {
				if (this.balanced.get(queue)?.channel === channel) this.balanced.delete(queue);
				throw err;
			},
		);
	}

	/**
	 * Whether this node can take a request for `action` now: a service of it registered the action,
	 * and the broker is not stopping. Not whether the action's circuit is open: a request for an
	 * action whose circuit opened is Moleculer's to refuse at once (that is what the breaker is
	 * for), not one to bounce between replicas whose circuits may all be open.
	 */
	private servesLocally(action: string): boolean {
		if (this.broker.stopping) return false;
		const endpoints = (this.broker.registry as unknown as Registry).getActionEndpoints(action);
		return !!endpoints && endpoints.localEndpoints.length > 0;
	}

	/** A request this node cannot serve goes back to its queue, after a pause (see HAND_BACK_DELAY_MS). */
	private handBack(channel: Channel, msg: ConsumeMessage, queue: string): void {
		count(this.broker, METRICS.requestsHandedBack, { queue });
		this.handedBack++;
		if (Date.now() - this.handBackLoggedAt >= 10_000) {
			this.logger.warn(`Handed ${this.handedBack} request(s) back to their shared queue (latest: ${queue}): this node does not serve the action now.`);
			this.handBackLoggedAt = Date.now();
			this.handedBack = 0;
		}
		this.requeueSoon(channel, msg);
	}

	/**
	 * A message goes back to its queue (nack, requeue) after HAND_BACK_DELAY_MS: a request this
	 * node cannot serve, an event its paused consumer handed back.
	 */
	private requeueSoon(channel: Channel, msg: ConsumeMessage): void {
		const timer = setTimeout(() => {
			if (channel !== this.channel) return; // the channel closed: RabbitMQ requeued it already
			try {
				channel.nack(msg, false, true);
			} catch (err) {
				this.logger.warn(`AMQP nack failed: ${(err as Error).message}`);
			}
		}, HAND_BACK_DELAY_MS);
		timer.unref();
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
	private consumer(
		channel: Channel,
		cmd: string,
		needAck: boolean,
		again: () => Promise<void>,
		serves: () => boolean = () => true,
		queue = "",
	): (msg: ConsumeMessage | null) => void | Promise<void> {
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
				this.consumerCancelled(channel, cmd, again, queue);
				return;
			}
			if (!serves()) {
				this.handBack(channel, msg, queue);
				return;
			}
			let result: unknown;
			// an event of a shared queue: its handler may hand it back (a paused consumer)
			let handedBack = () => false;
			try {
				if (cmd === PACKET_EVENT && queue) ({ result, handedBack } = handlingDelivery(() => this.receive(cmd, msg.content)));
				else result = this.receive(cmd, msg.content);
			} catch (err) {
				this.logger.error("AMQP message handling error.", err);
				if (needAck) settle(msg, false);
				return;
			}
			const done = () => {
				if (!needAck) return;
				if (!handedBack()) settle(msg, true);
				else if (channel === this.channel) this.requeueSoon(channel, msg);
			};
			if (!isThenable(result)) {
				done();
				return;
			}
			return Promise.resolve(result).then(done, (err: unknown) => {
				this.logger.error("AMQP message handling error.", err);
				if (needAck) settle(msg, false);
			});
		};
	}

	/**
	 * RabbitMQ cancelled a consumer: its queue was deleted (by an operator, a policy, a test).
	 * Messages that were in it are gone (consumers catch up from the producer's log); the queue
	 * is declared and consumed again after a moment, on the same channel unless the connection
	 * was renewed meanwhile (then the new subscription already did it).
	 */
	private consumerCancelled(channel: Channel, cmd: string, again: () => Promise<void>, queue: string): void {
		if (queue) {
			// a shared queue is consumed again only while a registered service still wants it
			if (this.balanced.get(queue)?.channel === channel) this.balanced.delete(queue);
			if (!this.wanted.has(queue)) return;
		}
		this.logger.warn(`AMQP consumer of a ${cmd} queue cancelled by RabbitMQ (queue deleted?): subscribing again in ${RESUBSCRIBE_DELAY_MS} ms.`);
		const timer = setTimeout(() => {
			if (channel !== this.channel || this.channelDisconnecting || this.connectionDisconnecting) return;
			if (queue && !this.wanted.has(queue)) return;
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
					replyCode(err) === 404 ? { messages: null, consumers: 0, missing: true } : { messages: null, consumers: null, error: (err as Error).message };
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
