/**
 * The settings of each kind of RabbitMQ queue a node declares, and what RabbitMQ's refusals of
 * them mean. Pure: lib/infra/amqp-transporter.ts and the relay (lib/relay/) declare with these.
 *
 * Two kinds of queue, two lifetimes:
 * - **shared** queues outlive every node: the request queues `MOL-<ns>.REQB.<action>` and the
 *   event-group queues `MOL-<ns>.EVENTB.<group>.<event>` (and the AMQP stream's queues). They are
 *   durable, and with `AMQP_QUEUE_TYPE=quorum` quorum queues, replicated over a RabbitMQ cluster:
 *   losing one RabbitMQ node loses none of them.
 * - **private** queues belong to one node (`REQ.<node>`, `RES.<node>`, `EVENT.<node>`, INFO,
 *   DISCOVER, PING, …) and are non-durable classic queues. A durable classic queue lives on the
 *   RabbitMQ node that declared it; when that node dies, declaring it again on another node fails
 *   (404, its home is down) until it comes back, so a node whose broker died never got its
 *   subscriptions back (DESIGN.md, the last pitfall). A non-durable queue is dropped with its
 *   home node and declared afresh wherever the node reconnects; what it held was for a node that
 *   has lost its connection anyway. (Quorum queues cannot be exclusive or auto-delete, and would
 *   replicate traffic nobody needs to survive a broker.)
 */
import type { Options } from "amqplib";

export const QUEUE_TYPES = ["classic", "quorum"] as const;
export type QueueType = (typeof QUEUE_TYPES)[number];

export type QueueKind = "shared" | "private";

/** The x-arguments that make a queue of `type` (none for classic: what a neighbour with Moleculer's defaults declares). */
export function queueTypeArguments(type: QueueType): Record<string, string> {
	return type === "quorum" ? { "x-queue-type": "quorum" } : {};
}

/** A balanced queue (REQB, EVENTB) is shared by a service's replicas; every other queue is one node's own. */
export function queueKind(balanced: boolean | undefined): QueueKind {
	return balanced ? "shared" : "private";
}

/**
 * The options a queue of `kind` is declared with, from the ones Moleculer's transporter computed
 * for it (`base`: its TTLs, expiries, auto-delete for broadcasts): durable and of `type` when
 * shared, non-durable classic when private.
 */
export function queueOptions(kind: QueueKind, type: QueueType, base: Options.AssertQueue): Options.AssertQueue {
	if (kind === "private") return { ...base, durable: false };
	if (type === "classic") return { ...base, durable: true };
	// a quorum queue is never exclusive or auto-deleted (RabbitMQ refuses the declaration)
	const { autoDelete: _autoDelete, exclusive: _exclusive, ...rest } = base;
	return { ...rest, durable: true, arguments: { ...rest.arguments, ...queueTypeArguments("quorum") } };
}

/** RabbitMQ's reply code for a declaration whose settings differ from the existing queue's. */
export const PRECONDITION_FAILED = 406;

/** amqplib's error for a channel the server closed: `code` is the AMQP reply code (404 NOT_FOUND, 406 PRECONDITION_FAILED). */
export function replyCode(err: unknown): number | undefined {
	const code = (err as { code?: unknown } | null)?.code;
	return typeof code === "number" ? code : undefined;
}

/** What a 406 said about the existing queue's type. */
export interface QueueTypeMismatch {
	queue: string;
	/** the type the queue has: `classic` when it was declared without x-queue-type */
	found: string;
}

/**
 * The queue and its type when RabbitMQ refused a declaration because the existing queue is of
 * another type, e.g. `inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received the
 * value 'quorum' of type 'longstr' but current is none`; null for any other refusal.
 */
export function queueTypeMismatch(message: string): QueueTypeMismatch | null {
	const match = /inequivalent arg 'x-queue-type' for queue '(.*?)' in vhost '.*?': received .* but current is (none|the value '([^']*)')/.exec(message);
	if (!match) return null;
	return { queue: match[1], found: match[3] ?? "classic" };
}

/**
 * The log line for a queue that outlives nodes (a shared queue, a stream queue) and exists with
 * another type than AMQP_QUEUE_TYPE asks for: what was found, what the node does about it, and
 * how to move (docs/cluster-and-deployment.md, "Several RabbitMQ nodes").
 */
export function queueTypeMismatchMessage(mismatch: QueueTypeMismatch, wanted: QueueType): string {
	return (
		`Queue '${mismatch.queue}' exists as a ${mismatch.found} queue but AMQP_QUEUE_TYPE=${wanted}: ` +
		`this node uses it as it is (a ${mismatch.found} queue${mismatch.found === "quorum" ? "" : ", not replicated"}). ` +
		`To change its type, drain it and delete it (rabbitmqctl delete_queue <name>) while no node uses it, or run the system ` +
		`under a new NAMESPACE (shared queues); or set AMQP_QUEUE_TYPE=${mismatch.found}. See docs/cluster-and-deployment.md, "Several RabbitMQ nodes".`
	);
}
