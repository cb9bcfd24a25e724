/**
 * Readiness of this node, component by component, each checked with a deadline: the databases
 * of the services running here, the transporter, and the cacher. Event queue depths come with
 * the AMQP transporter.
 */
import amqp from "amqplib";
import type { Service, ServiceBroker } from "moleculer";
import { CONSUMERS, eventQueueName } from "../constants";
import type { DatabaseProbe } from "../storage/database";

export type Status = "UP" | "DOWN";

export interface Component {
	status: Status;
	[detail: string]: unknown;
}

export interface Readiness {
	status: Status;
	components: { database: Component; transporter: Component; cacher: Component; queues: Component };
}

const CHECK_TIMEOUT_MS = 2000;

function worst(components: Component[]): Status {
	return components.every((component) => component.status === "UP") ? "UP" : "DOWN";
}

async function withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
	});
	try {
		return await Promise.race([work, deadline]);
	} finally {
		clearTimeout(timer);
	}
}

async function databases(broker: ServiceBroker, owners: readonly string[]): Promise<Component> {
	const checks: Record<string, Component> = {};
	for (const name of owners) {
		const service = broker.getLocalService(name) as (Service & DatabaseProbe) | undefined;
		if (service) checks[name] = { ...(await service.checkDatabase()) };
	}
	return { status: worst(Object.values(checks)), ...checks };
}

function transporter(broker: ServiceBroker): Component {
	if (!broker.transit) return { status: "UP", type: "none" };
	return { status: broker.transit.connected ? "UP" : "DOWN", type: broker.transit.tx.constructor.name };
}

async function cacher(broker: ServiceBroker): Promise<Component> {
	const cache = broker.cacher;
	if (!cache) return { status: "UP", type: "none" };
	const type = cache.constructor.name;
	const client = (cache as unknown as { client?: { ping?: () => Promise<string> } }).client;
	if (type !== "RedisCacher" || !client?.ping) return { status: "UP", type };
	try {
		await withDeadline(client.ping(), "Redis ping");
		return { status: "UP", type };
	} catch (err) {
		return { status: "DOWN", type, message: (err as Error).message };
	}
}

/**
 * Depth and consumers of every event queue this node's services consume (AMQP only), asked on
 * a connection of its own: the transporter's channel is not ours to use, and a passive check of
 * a queue that is missing would close it.
 */
async function queues(broker: ServiceBroker, owners: readonly string[]): Promise<Component> {
	const url = (broker.transit?.tx as unknown as { opts?: { url?: string[] } } | undefined)?.opts?.url?.[0];
	const consumed = Object.values(CONSUMERS).filter((consumer) => owners.includes(consumer.service) && broker.getLocalService(consumer.service));
	if (!url || consumed.length === 0) return { status: "UP" };
	const names = consumed.flatMap((consumer) => consumer.events.map((event) => eventQueueName(broker.namespace, consumer.group, event)));
	try {
		return await withDeadline(
			(async () => {
				const connection = await amqp.connect(url);
				try {
					const result: Component = { status: "UP" };
					for (const name of names) {
						const channel = await connection.createChannel();
						try {
							const { messageCount, consumerCount } = await channel.checkQueue(name);
							result[name] = { messages: messageCount, consumers: consumerCount };
						} catch {
							result[name] = { messages: null, consumers: 0, missing: true };
							result.status = "DOWN";
						} finally {
							await channel.close().catch(() => undefined);
						}
					}
					return result;
				} finally {
					await connection.close().catch(() => undefined);
				}
			})(),
			"RabbitMQ queue check",
		);
	} catch (err) {
		return { status: "DOWN", message: (err as Error).message };
	}
}

export async function checkReadiness(broker: ServiceBroker, dbOwners: readonly string[]): Promise<Readiness> {
	const components = {
		database: await databases(broker, dbOwners),
		transporter: transporter(broker),
		cacher: await cacher(broker),
		queues: await queues(broker, dbOwners),
	};
	// Until the broker has started every local service, routes may still answer 503: not ready.
	const started = (broker as ServiceBroker & { started?: boolean }).started === true;
	return { status: started ? worst(Object.values(components)) : "DOWN", components };
}
