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

/**
 * Whether shared queue `queue` belongs to one of `ownServices`: a request queue of one of their
 * actions, or an event queue of a group named after one of them (the project's consumer groups
 * are its service names). Another team's queues in the same namespace are not: they are declared
 * by their consumers, with their arguments, and never by us.
 */
export function isOwnQueue(prefix: string, queue: string, ownServices: readonly string[]): boolean {
	const request = `${prefix}.REQB.`;
	const event = `${prefix}.EVENTB.`;
	let owner: string;
	if (queue.startsWith(request)) {
		const action = queue.slice(request.length);
		owner = action.slice(0, Math.max(0, action.lastIndexOf(".")));
	} else if (queue.startsWith(event)) {
		const rest = queue.slice(event.length);
		owner = rest.slice(0, Math.max(0, rest.indexOf(".")));
	} else {
		return false;
	}
	return ownServices.includes(owner);
}

/**
 * The name under which a group's queue for `event` is consumed. Moleculer names a group's queue
 * after the event as its handler subscribed it (`client.*` gives `EVENTB.audit.client.*`), but
 * publishes under the emitted name (`EVENTB.audit.client.created`): with the balancer disabled a
 * group that subscribes by wildcard would receive nothing. The emitted name when the group
 * subscribed it (or nothing is known of the group), else the first of its matching patterns: one
 * queue per group, since the receiving node hands the event to every matching handler of its group.
 */
export function subscribedEventName(event: string, groupSubscriptions: readonly string[], matches: (event: string, pattern: string) => boolean): string {
	if (groupSubscriptions.includes(event)) return event;
	const patterns = groupSubscriptions.filter((pattern) => matches(event, pattern)).sort();
	return patterns[0] ?? event;
}
