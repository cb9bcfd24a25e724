/**
 * Handing a delivery back to its queue from inside its handler. A paused consumer takes no
 * events (CONTRACT.md, "Operating consumers"): its consumers on the group's queues are cancelled
 * (lib/infra/amqp-transporter.ts, holdEventGroup), but the messages RabbitMQ had already
 * delivered (up to AMQP_PREFETCH a queue) are on their way through Moleculer to the handler.
 * Moleculer acks a message once its handler settles, whatever the handler did, and a handler
 * that throws is logged as an error and acked all the same (moleculerjs/moleculer#605). So the
 * transporter marks the delivery it hands to Moleculer, the handler takes that mark, and the
 * transporter then gives the message back to the queue (nack, requeue) instead of acking it: it
 * waits there, as the events sent during the pause do, and is taken when the consumer runs again.
 *
 * The mark is current only during the transporter's call into Moleculer, which reaches the event
 * handler without awaiting anything (transit → event catalog → the handler, each a plain call),
 * so a handler takes it at its start, before its first `await`. (It was an AsyncLocalStorage:
 * on Node 20 that turns on promise hooks for the whole process, a cost on every promise of every
 * request, ~40 µs per request on a node that consumes events.)
 */

interface Mark {
	handedBack: boolean;
}

/** The delivery being handed to Moleculer at this moment, if any. */
let current: Mark | undefined;

/** What a handler holds of its delivery. */
export interface Delivery {
	/** give the message back to its queue instead of acking it */
	handBack(): void;
}

/** The transporter: handle one delivery by `receive`; `handedBack()` says, once it settled, whether its handler handed it back. */
export function handlingDelivery<T>(receive: () => T): { result: T; handedBack: () => boolean } {
	const mark: Mark = { handedBack: false };
	const outer = current;
	current = mark;
	try {
		return { result: receive(), handedBack: () => mark.handedBack };
	} finally {
		current = outer;
	}
}

/**
 * A handler, at its start (before it awaits anything): the delivery it was called for, or null
 * when it handles none (no transporter: the event stays in the producer's log, from which
 * catch-up reads it).
 */
export function takeDelivery(): Delivery | null {
	const mark = current;
	if (!mark) return null;
	return {
		handBack: () => {
			mark.handedBack = true;
		},
	};
}
