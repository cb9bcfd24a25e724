/**
 * The AMQP stream for programs outside Moleculer (CONTRACT.md, "Events for programs outside
 * Moleculer"), as names and settings in one place: the relay that publishes each producer's
 * event log to it (lib/relay/) declares and publishes with these, and the AsyncAPI
 * document (lib/http/asyncapi.ts) describes them. Routing keys are the event names themselves
 * (CLIENT_EVENTS, GOAL_EVENTS in lib/constants.ts).
 *
 * Dead letters: each queue names its own dead-letter queue as the dead-letter routing key on a
 * direct exchange, so a message a consumer rejects lands in that queue's DLQ and nowhere else
 * (whatever its routing key, and whatever other queue a third party binds with the same
 * exchange); RabbitMQ keeps the original routing key in the message's `x-death` header.
 */
import type { Source } from "../constants";

export interface StreamQueue {
	/** the durable queue a plain AMQP consumer reads */
	name: string;
	/** its binding key on the topic exchange: one producer's events */
	bindingKey: string;
	/** the durable queue its rejected and expired messages go to */
	deadLetterQueue: string;
}

export const AMQP_STREAM = {
	/** durable topic exchange every producer's events are published to, routing key = event name */
	exchange: { name: "microservice.events", type: "topic", durable: true, autoDelete: false },
	/** where the queues' dead letters go (direct: routed by the DLQ's own name) */
	deadLetterExchange: { name: "microservice.events.dlx", type: "direct", durable: true, autoDelete: false },
	/** a message waits at most 24 h in a queue, then it is dead-lettered */
	messageTtlMs: 86_400_000,
	/** AMQP delivery mode 2: persistent, survives a broker restart in a durable queue */
	deliveryMode: 2,
	/** the body is the event's JSON, exactly as the contract writes it */
	contentType: "application/json",
	/** header carrying the X-Request-ID of the change that caused the event */
	requestIdHeader: "x-request-id",
	queues: {
		clients: { name: "client.events", bindingKey: "client.*", deadLetterQueue: "client.events.dlq" },
		goals: { name: "goal.events", bindingKey: "goal.*", deadLetterQueue: "goal.events.dlq" },
	} as const satisfies Record<Source, StreamQueue>,
} as const;

/**
 * The arguments a stream queue is declared with (amqplib `assertQueue(name, { durable: true, arguments })`).
 * `deadLetterExchange`: the contract's, unless a test runs the stream under a prefix of its own.
 */
export function streamQueueArguments(queue: StreamQueue, deadLetterExchange: string = AMQP_STREAM.deadLetterExchange.name): Record<string, string | number> {
	return {
		"x-message-ttl": AMQP_STREAM.messageTtlMs,
		"x-dead-letter-exchange": deadLetterExchange,
		"x-dead-letter-routing-key": queue.deadLetterQueue,
	};
}
