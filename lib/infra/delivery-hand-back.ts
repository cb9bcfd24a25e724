/**
 * Handing a delivery back to its queue from inside its handler. A paused consumer takes no
 * events (CONTRACT.md, "Operating consumers"): its consumers on the group's queues are cancelled
 * (lib/infra/amqp-transporter.ts, holdEventGroup), but the messages RabbitMQ had already
 * delivered (up to AMQP_PREFETCH a queue) are on their way through Moleculer to the handler.
 * Moleculer acks a message once its handler settles, whatever the handler did, and a handler
 * that throws is logged as an error and acked all the same (moleculerjs/moleculer#605). So the
 * transporter runs each event delivery in a context of its own, the handler marks it here, and
 * the transporter then gives the message back to the queue (nack, requeue) instead of acking it:
 * it waits there, as the events sent during the pause do, and is taken when the consumer runs
 * again. The context follows the handling through Moleculer's promises (AsyncLocalStorage).
 */
import { AsyncLocalStorage } from "node:async_hooks";

interface Delivery {
	handBack: boolean;
}

const deliveries = new AsyncLocalStorage<Delivery>();

/** The transporter: handle one delivery by `receive`; `handedBack()` says, once it settled, whether its handler handed it back. */
export function handlingDelivery<T>(receive: () => T): { result: T; handedBack: () => boolean } {
	const delivery: Delivery = { handBack: false };
	const result = deliveries.run(delivery, receive);
	return { result, handedBack: () => delivery.handBack };
}

/**
 * A handler: give the delivery it handles back to its queue. False when it handles none (no
 * transporter: the event stays in the producer's log, from which catch-up reads it).
 */
export function handBackDelivery(): boolean {
	const delivery = deliveries.getStore();
	if (!delivery) return false;
	delivery.handBack = true;
	return true;
}
