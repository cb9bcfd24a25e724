/**
 * Our own metrics, in Moleculer's registry: listed by `$node.metrics` (REPL: `call $node.metrics`)
 * and exported by whatever reporter the broker has (Prometheus with METRICS_PORT).
 */
import type { ServiceBroker } from "moleculer";
import { METRICS } from "../constants";

const COUNTERS: Array<[string, string, string[]]> = [
	[METRICS.eventsPublished, "events published after commit", ["event"]],
	[METRICS.eventsApplied, "events that changed a projection", ["producer"]],
	[METRICS.eventsStale, "events skipped by the version guard (duplicate, replayed or older)", ["producer"]],
	[METRICS.eventsFailed, "handler failures (each goes to the retry table)", ["producer"]],
	[METRICS.eventsRetried, "retry attempts made", ["producer"]],
	[METRICS.eventsDeadLettered, "events that exhausted their attempts", ["producer"]],
	[METRICS.catchUpRuns, "catch-up runs that changed something", ["producer"]],
	[METRICS.catchUpEvents, "events read by catch-up", ["producer"]],
	[METRICS.snapshotEntities, "entities read from the producer's snapshot (a bootstrap or a rebuild)", ["producer"]],
	[METRICS.eventsRejected, "consumed events that failed their schema check (dead-lettered, never applied)", ["producer"]],
	[
		METRICS.transitRejected,
		"packets from other nodes dropped: not one of our frames (framing), sealed with a key not in TRANSPORTER_SECRET (unknown-key), or not authenticated (authentication)",
		["type", "reason"],
	],
	[METRICS.relayPublished, "events the relay published to the AMQP stream and RabbitMQ confirmed", ["event"]],
	[
		METRICS.httpErrors,
		"error answers of the gateway, by the HTTP status it answered (a call to a service with no live node is a 503 here, whatever Moleculer's error code)",
		["status"],
	],
	[
		METRICS.consumerPauses,
		"times a consumer was paused (after CONSUMER_PAUSE_AFTER consecutive failed events, or by an operator), counted by the replica that paused it",
		["consumer"],
	],
	[METRICS.deadLettersPurged, "settled dead letters (discarded, replayed) purged after DEAD_LETTER_RETENTION_DAYS", ["consumer"]],
	[METRICS.requestsHandedBack, "requests taken from a shared queue for an action this node did not serve at that moment, handed back to the queue", ["queue"]],
];

/** Sampled every few seconds by each consumer (mixins/event-consumer.mixin.ts), not counted. */
const GAUGES: Array<[string, string, string[]]> = [
	[METRICS.consumerLag, "events in the producer's log after the consumer's checkpoint", ["consumer", "producer"]],
	[METRICS.retriesPending, "failed events waiting for their next attempt", ["consumer"]],
	[METRICS.deadLetters, "events kept as dead letters (exhausted their attempts or failed their schema check)", ["consumer"]],
	[METRICS.consumerPaused, "1 while the consumer is paused (its events wait in their queues), else 0", ["consumer"]],
	[METRICS.queueMessages, "messages waiting in a consumed event queue (AMQP)", ["queue"]],
	[METRICS.queueConsumers, "consumers of a consumed event queue, all replicas (AMQP)", ["queue"]],
	[METRICS.relayLag, "events in the producer's log the relay has not had confirmed by RabbitMQ yet (head − relay checkpoint)", ["producer"]],
];

/** Register once per broker; a no-op when metrics are disabled. */
export function registerMetrics(broker: ServiceBroker): void {
	const registry = broker.metrics;
	if (!broker.isMetricsEnabled() || registry.hasMetric(METRICS.eventsApplied)) return;
	for (const [name, description, labelNames] of COUNTERS) {
		registry.register({ type: "counter", name, description, labelNames });
	}
	for (const [name, description, labelNames] of GAUGES) {
		registry.register({ type: "gauge", name, description, labelNames });
	}
	registry.register({
		type: "histogram",
		name: METRICS.propagationMs,
		description: "ms from an event's commit to its application by a consumer",
		labelNames: ["producer"],
		buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
		unit: "millisecond",
	});
}

export function count(broker: ServiceBroker, name: string, labels: Record<string, string>, value = 1): void {
	if (value > 0 && broker.isMetricsEnabled()) broker.metrics.increment(name, labels, value);
}

export function observe(broker: ServiceBroker, name: string, value: number, labels: Record<string, string>): void {
	if (broker.isMetricsEnabled()) broker.metrics.observe(name, value, labels);
}

export function gauge(broker: ServiceBroker, name: string, value: number, labels: Record<string, string>): void {
	if (broker.isMetricsEnabled()) broker.metrics.set(name, value, labels);
}
