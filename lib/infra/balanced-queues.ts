/**
 * Which shared (balanced) queues a node should consume, from the services it has registered,
 * and what to change to get there. Moleculer's AMQP transporter only ever adds consumers: it
 * has no `unsubscribeFromBalancedCommands`, so a node that stops keeps taking requests and
 * events off the shared queues while its services shut down. With this rule the transporter
 * consumes exactly the queues of the services registered now: none once the broker has
 * announced that it stops (its INFO lists no services), which is "stop consuming first".
 */

/** A service as the node's INFO lists it (Moleculer's `getLocalNodeInfo().services`). */
export interface ListedService {
	name: string;
	actions?: Record<string, unknown>;
	events?: Record<string, { group?: string } | undefined>;
}

export type BalancedQueue = { queue: string; kind: "request"; action: string } | { queue: string; kind: "event"; event: string; group: string };

/** The queue names Moleculer 0.15's AMQP transporter uses (src/transporters/amqp.js). */
export function requestQueue(prefix: string, action: string): string {
	return `${prefix}.REQB.${action}`;
}

export function eventQueue(prefix: string, group: string, event: string): string {
	return `${prefix}.EVENTB.${group}.${event}`;
}

/** The shared queues the listed services are served from (an event's group defaults to its service's name). */
export function balancedQueues(prefix: string, services: readonly ListedService[]): BalancedQueue[] {
	const queues: BalancedQueue[] = [];
	for (const service of services) {
		for (const action of Object.keys(service.actions ?? {})) {
			queues.push({ queue: requestQueue(prefix, action), kind: "request", action });
		}
		for (const [event, definition] of Object.entries(service.events ?? {})) {
			const group = definition?.group || service.name;
			queues.push({ queue: eventQueue(prefix, group, event), kind: "event", event, group });
		}
	}
	// one consumer per queue, even if two local services share an event group
	return [...new Map(queues.map((queue) => [queue.queue, queue])).values()];
}

/** From the queues consumed now to the ones wanted: which consumers to cancel, which queues to consume. */
export function consumerChanges(consumed: Iterable<string>, wanted: readonly BalancedQueue[]): { cancel: string[]; consume: BalancedQueue[] } {
	const have = new Set(consumed);
	const want = new Set(wanted.map((queue) => queue.queue));
	return {
		cancel: [...have].filter((queue) => !want.has(queue)),
		consume: wanted.filter((queue) => !have.has(queue.queue)),
	};
}

/**
 * A request message's time to live in RabbitMQ's form (whole milliseconds as a string): its
 * caller's timeout, after which nobody waits for the answer; null when it has no timeout.
 */
export function requestTtl(payload: { timeout?: unknown }): string | null {
	const timeout = Number(payload.timeout);
	return Number.isFinite(timeout) && timeout > 0 ? String(Math.ceil(timeout)) : null;
}
