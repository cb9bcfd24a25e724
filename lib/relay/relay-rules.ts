/**
 * The relay's decisions, pure (the relay itself, lib/relay/log-relay.ts, does the reading,
 * publishing and storing around them):
 *
 * - which names the stream has under a prefix (tests isolate themselves on a shared broker);
 * - what message an event-log row becomes on the exchange;
 * - what to publish next after the checkpoint, and where the checkpoint moves once the broker
 *   has confirmed some of it (never past an unconfirmed message: at least once, in log order);
 * - whether this replica relays (leadership), and how long to wait before trying the broker again.
 */
import type { Dialect } from "../storage/sql";
import { AMQP_STREAM, type StreamQueue, streamQueueArguments } from "../domain/amqp-stream";
import { CLIENT_EVENTS, GOAL_EVENTS, type Source } from "../constants";
import type { DomainEvent } from "../domain/events";
import { type QueueType, queueTypeArguments } from "../infra/amqp-queues";

/** The stream's exchanges and one producer's queue, each name under `prefix` ("" = the contract's names). */
export interface StreamNames {
	exchange: string;
	deadLetterExchange: string;
	queue: StreamQueue;
	/** the arguments its queue is declared with (TTL, dead-lettering to the prefixed DLX and DLQ, its type) */
	queueArguments: Record<string, string | number>;
	/** the arguments its dead-letter queue is declared with (its type) */
	deadLetterQueueArguments: Record<string, string>;
	/** AMQP_QUEUE_TYPE, which those arguments carry */
	queueType: QueueType;
}

/**
 * `queueType`: AMQP_QUEUE_TYPE. The queue and its DLQ outlive every node: with `quorum` both are
 * quorum queues, replicated over the RabbitMQ cluster (lib/infra/amqp-queues.ts).
 */
export function streamNames(source: Source, prefix: string, queueType: QueueType = "classic"): StreamNames {
	const contract = AMQP_STREAM.queues[source];
	// the binding key is a pattern of routing keys (event names), never prefixed
	const queue: StreamQueue = { name: prefix + contract.name, bindingKey: contract.bindingKey, deadLetterQueue: prefix + contract.deadLetterQueue };
	const deadLetterExchange = prefix + AMQP_STREAM.deadLetterExchange.name;
	return {
		exchange: prefix + AMQP_STREAM.exchange.name,
		deadLetterExchange,
		queue,
		queueArguments: { ...streamQueueArguments(queue, deadLetterExchange), ...queueTypeArguments(queueType) },
		deadLetterQueueArguments: queueTypeArguments(queueType),
		queueType,
	};
}

/** One message for the exchange: routing key, body and AMQP properties. */
export interface StreamMessage {
	sequence: number;
	routingKey: string;
	body: string;
	properties: {
		persistent: true;
		contentType: string;
		messageId: string;
		/** seconds since the epoch (AMQP's timestamp) */
		timestamp: number;
		headers: Record<string, string>;
	};
}

export function eventName(event: DomainEvent): string {
	return event.source === "clients" ? CLIENT_EVENTS[event.eventType] : GOAL_EVENTS[event.eventType];
}

/**
 * The message of one event: the body is the event's JSON exactly as the contract writes it
 * (JSON.stringify of the same object a Moleculer event carries); `x-request-id` only when the
 * request that caused it is known.
 */
export function streamMessage(event: DomainEvent, requestId: string | undefined): StreamMessage {
	return {
		sequence: event.sequence,
		routingKey: eventName(event),
		body: JSON.stringify(event),
		properties: {
			persistent: true,
			contentType: AMQP_STREAM.contentType,
			messageId: event.eventId,
			timestamp: Math.floor(Date.parse(event.timestamp) / 1000),
			headers: requestId ? { [AMQP_STREAM.requestIdHeader]: requestId } : {},
		},
	};
}

/** Given the checkpoint and a page read after it, then the events to publish, in log order. */
export function toPublish<E extends { sequence: number }>(checkpoint: number, page: readonly E[]): E[] {
	return page.filter((event) => event.sequence > checkpoint).sort((a, b) => a.sequence - b.sequence);
}

/** What the broker answered for one published message. */
export interface Outcome {
	sequence: number;
	/** true: confirmed (ack); false: refused (nack) or never answered (the connection dropped) */
	confirmed: boolean;
}

/**
 * Given the checkpoint and the outcomes of a page published in order, then the new checkpoint:
 * the last sequence of the confirmed run that starts the page. A message after an unconfirmed
 * one is sent again, with everything after the hole (a duplicate, never a loss).
 */
export function confirmedThrough(checkpoint: number, outcomes: readonly Outcome[]): number {
	let position = checkpoint;
	for (const outcome of [...outcomes].sort((a, b) => a.sequence - b.sequence)) {
		if (outcome.sequence <= position) continue;
		if (!outcome.confirmed) break;
		position = outcome.sequence;
	}
	return position;
}

/**
 * What the relay lock said. `taken`: this replica holds it now (just taken, or held since);
 * `refused`: another replica holds it; `lost`: the lock's connection broke (PostgreSQL then
 * releases the lock, and another replica may take it at once).
 */
export type LockAnswer = "taken" | "refused" | "lost";

export interface Leadership {
	/** whether this replica publishes */
	relays: boolean;
	/** what changed, for one log line: null when nothing did */
	change: "gained" | "lost" | null;
}

/**
 * Given the database's dialect, whether this replica relayed until now, and the lock's answer
 * (null: not asked), then whether it relays. SQLite serves one replica: it always relays.
 * PostgreSQL: only the holder of the session lock relays; one that lost its lock's connection
 * stops at once, whatever it was doing.
 */
export function decideLeadership(dialect: Dialect, relayed: boolean, lock: LockAnswer | null): Leadership {
	const relays = dialect === "sqlite" ? true : lock === null ? relayed : lock === "taken";
	return { relays, change: relays === relayed ? null : relays ? "gained" : "lost" };
}

export interface BackoffPolicy {
	initialMs: number;
	maxMs: number;
}

export const RELAY_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 5000 };

/** Given the number of failed attempts to reach the broker in a row (1 = the first), then the wait before the next one. */
export function reconnectDelay(failures: number, policy: BackoffPolicy = RELAY_BACKOFF): number {
	return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, failures - 1));
}
