/**
 * Declarations of RabbitMQ names that other programs share with us, made on a channel of their
 * own where a refusal costs nothing.
 *
 * Queue and exchange names are global to a vhost. Another team's Moleculer node in the same
 * namespace declares its event-group queues and the namespace's fanout exchanges with its own
 * arguments (Moleculer's defaults: `x-expires` two minutes; or a message TTL of its choosing),
 * and RabbitMQ answers a declaration with other arguments with 406 PRECONDITION_FAILED and closes
 * the channel it came on. On the transporter's channel that close ends the node's connection (see
 * amqp-transporter.ts), so one ordinary neighbour took the whole cluster down on every emit. Here
 * a declaration goes over a side channel, one at a time; a 406 means the name exists (with
 * somebody's arguments): it is used as it is, the side channel is opened again for the next one,
 * and the difference is reported once per name.
 *
 * A node's own queue (named after the node) is another matter: one that exists with other
 * arguments was left by an earlier version of the node itself (durable, before the node's own
 * queues became non-durable: lib/infra/amqp-queues.ts), so it is deleted and declared again.
 */
import type { Channel, ChannelModel, Options } from "amqplib";
import { PRECONDITION_FAILED, replyCode } from "./amqp-queues";

/** What a declaration found: created or already there with our arguments, or there with other arguments. */
export type Declared = "declared" | "existing";

export class SideChannelDeclarer {
	private channel: { connection: ChannelModel; open: Promise<Channel>; opened?: Channel } | null = null;
	/** declarations run one after another: a 406 closes the side channel under whatever else is on it */
	private queue: Promise<unknown> = Promise.resolve();
	/** names whose difference was reported already */
	private readonly reported = new Set<string>();

	/**
	 * @param connection the transporter's connection now (null while it has none)
	 * @param onConflict told once per name that it exists with other arguments, with RabbitMQ's reason
	 */
	constructor(
		private readonly connection: () => ChannelModel | null,
		private readonly onConflict: (kind: "queue" | "exchange", name: string, reason: string) => void,
	) {}

	/** Declare queue `name` with `options`, or find it declared by somebody else. Rejects only when there is no channel to ask on. */
	assertQueue(name: string, options: Options.AssertQueue): Promise<Declared> {
		return this.run("queue", name, (channel) => channel.assertQueue(name, options));
	}

	/**
	 * Declare this node's own queue `name`; one that exists with other arguments is deleted and
	 * declared again (`replaced`, with RabbitMQ's reason). Not reported as a conflict: it is ours.
	 */
	async assertOwnQueue(name: string, options: Options.AssertQueue): Promise<{ replaced: false } | { replaced: true; reason: string }> {
		let reason = "";
		const first = await this.run(
			"queue",
			name,
			(channel) => channel.assertQueue(name, options),
			(err) => (reason = err.message),
		);
		if (first === "declared") return { replaced: false };
		const again = await this.run("queue", name, async (channel) => {
			await channel.deleteQueue(name);
			await channel.assertQueue(name, options);
		});
		if (again !== "declared") throw new Error(`this node's queue '${name}' cannot be declared again: ${reason}`);
		return { replaced: true, reason };
	}

	/** Declare exchange `name`, or find it declared by somebody else with other options. */
	assertExchange(name: string, type: string, options: Options.AssertExchange | undefined): Promise<Declared> {
		return this.run("exchange", name, (channel) => channel.assertExchange(name, type, options));
	}

	/** `refused`: told of a 406 instead of onConflict (a node's own queue: no conflict to report) */
	private run(kind: "queue" | "exchange", name: string, declare: (channel: Channel) => Promise<unknown>, refused?: (err: Error) => void): Promise<Declared> {
		const attempt = async (): Promise<Declared> => {
			const channel = await this.open();
			try {
				await declare(channel);
				return "declared";
			} catch (err) {
				if (replyCode(err) !== PRECONDITION_FAILED) throw err;
				this.forget(channel);
				if (refused) {
					refused(err as Error);
				} else if (!this.reported.has(`${kind}\n${name}`)) {
					this.reported.add(`${kind}\n${name}`);
					this.onConflict(kind, name, (err as Error).message);
				}
				return "existing";
			}
		};
		const result = this.queue.then(attempt, attempt);
		this.queue = result.catch(() => undefined);
		return result;
	}

	/** The side channel on the current connection, opened on first use and again after a close. */
	private open(): Promise<Channel> {
		const connection = this.connection();
		if (!connection) return Promise.reject(new Error("the AMQP transporter has no connection"));
		if (this.channel?.connection === connection) return this.channel.open;
		const entry: { connection: ChannelModel; open: Promise<Channel>; opened?: Channel } = {
			connection,
			open: connection.createChannel().then((channel) => {
				// expected: the 406 of a name declared with other arguments (the pending call rejects with it)
				channel.on("error", () => undefined);
				channel.on("close", () => this.forget(channel));
				entry.opened = channel;
				return channel;
			}),
		};
		this.channel = entry;
		entry.open.catch(() => {
			if (this.channel === entry) this.channel = null;
		});
		return entry.open;
	}

	/** A closed channel is not asked again: the next declaration opens another. */
	private forget(channel: Channel): void {
		if (this.channel?.opened === channel) this.channel = null;
	}
}
