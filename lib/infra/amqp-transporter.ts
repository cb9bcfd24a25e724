/**
 * Moleculer's AMQP transporter, made to notice a channel that dies alone.
 *
 * When RabbitMQ closes the channel but not the connection (a channel error, a forced close),
 * Moleculer's transporter only forgets the channel (moleculerjs/moleculer#692): the node still
 * says it is connected, but publishes nothing and consumes nothing. Here such a close ends the
 * connection too, which Moleculer's transit treats as a lost connection: it reconnects, opens
 * a new channel and subscribes again.
 */
import { Transporters } from "moleculer";

interface AmqpChannel {
	on(event: "close", listener: () => void): void;
}

interface AmqpConnection {
	close(): Promise<void>;
}

export class ResilientAmqpTransporter extends Transporters.AMQP {
	override async connect(...args: unknown[]): Promise<void> {
		// Moleculer passes an error callback for failures after the connection was made.
		await (Transporters.AMQP.prototype.connect as (...a: unknown[]) => Promise<void>).apply(this, args);
		const channel = this.channel as AmqpChannel | null;
		const connection = this.connection as AmqpConnection | null;
		channel?.on("close", () => {
			if (this.channelDisconnecting || this.connectionDisconnecting || this.connection !== connection) return;
			this.logger.warn("AMQP channel closed while the connection is up: closing the connection to reconnect.");
			connection?.close().catch(() => undefined);
		});
	}
}
