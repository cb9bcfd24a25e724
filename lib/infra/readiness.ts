/**
 * Readiness of this node, component by component, each checked with a deadline: the databases
 * of the services running here, the transporter, and the cacher. Event queue depths come with
 * the AMQP transporter. No check throws past its own function: a component that cannot be
 * asked, or answers with an error, is DOWN, and the node stays up. What the answers make of the
 * node (UP, DEGRADED, DOWN) is decided in lib/infra/readiness-rules.ts.
 */
import { createHash } from "node:crypto";
import type { Service, ServiceBroker } from "moleculer";
import { CONSUMERS, consumerQueueNames, RELAYS } from "../constants";
import { type ConsumerSelfReport, consumerState } from "../consumer/consumer-state";
import type { DatabaseProbe } from "../storage/database";
import { type RelayFigures, relayState } from "../relay/relay-state";
import { ResilientAmqpTransporter } from "./amqp-transporter";
import { type Component, nodeStatus, type Status, servicesComponent, sighted, worst } from "./readiness-rules";

export type { Component, Status } from "./readiness-rules";

export interface Readiness {
	status: Status;
	components: {
		database: Component;
		transporter: Component;
		cacher: Component;
		queues: Component;
		services?: Component;
		consumers?: Component;
		relays?: Component;
		nodes?: Component;
	};
}

const CHECK_TIMEOUT_MS = 2000;

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
		if (!service) continue;
		try {
			checks[name] = { ...(await withDeadline(service.checkDatabase(), `${name} database check`)) };
		} catch (err) {
			checks[name] = { status: "DOWN", message: (err as Error).message };
		}
	}
	return { status: worst(Object.values(checks).map((check) => check.status)), ...checks };
}

/** Connected or not; over AMQP also to which RabbitMQ node (`host:port`, never credentials: TRANSPORTER may list several). */
function transporter(broker: ServiceBroker): Component {
	if (!broker.transit) return { status: "UP", type: "none" };
	const tx = broker.transit.tx;
	const status = broker.transit.connected ? "UP" : "DOWN";
	if (tx instanceof ResilientAmqpTransporter) return { status, type: tx.constructor.name, broker: tx.rabbitNode };
	return { status, type: tx.constructor.name };
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

/** A consumer service running on this node says whether it is paused (its queues then have no consumer, on purpose). */
export interface PauseProbe {
	consumerPaused(): boolean;
}

/**
 * Depth and consumers of every event queue this node's services consume (AMQP only), asked by
 * the transporter on a channel of its own (lib/infra/amqp-transporter.ts says why). A queue
 * that does not exist (not declared yet, or deleted behind the node's back) is reported
 * missing; it, or a queue without a consumer, makes the node DOWN, unless its consumer is paused
 * (CONTRACT.md: its events wait there; the node serves on): such a queue is marked `paused`.
 */
async function queues(broker: ServiceBroker, owners: readonly string[]): Promise<Component> {
	const tx = broker.transit?.tx;
	const consumed = Object.values(CONSUMERS).filter((consumer) => owners.includes(consumer.service) && broker.getLocalService(consumer.service));
	if (!(tx instanceof ResilientAmqpTransporter) || consumed.length === 0) return { status: "UP" };
	const names = consumed.flatMap((consumer) => consumerQueueNames(broker.namespace, consumer));
	const paused = new Set(
		consumed
			.filter((consumer) => (broker.getLocalService(consumer.service) as (Service & Partial<PauseProbe>) | undefined)?.consumerPaused?.() === true)
			.flatMap((consumer) => consumerQueueNames(broker.namespace, consumer)),
	);
	try {
		const states = await withDeadline(tx.inspectQueues(names), "RabbitMQ queue check");
		// this node consumes each of them: a queue nobody consumes is one this node is not consuming either
		const healthy = Object.entries(states).every(([name, state]) => state.messages !== null && (state.consumers > 0 || paused.has(name)));
		const shown = Object.fromEntries(Object.entries(states).map(([name, state]) => [name, paused.has(name) ? { ...state, paused: true } : state]));
		return { status: healthy ? "UP" : "DOWN", ...shown };
	} catch (err) {
		return { status: "DOWN", message: (err as Error).message };
	}
}

/**
 * For a gateway: how many live nodes serve each service its routes call (this one included),
 * read from the registry. What that makes of the gateway: servicesComponent in readiness-rules.
 */
export function liveNodeCounts(broker: ServiceBroker, routed: readonly string[]): Record<string, number> {
	const nodes = new Map<string, Set<string>>(routed.map((name) => [name, new Set<string>()]));
	for (const service of broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as Array<{ name: string; nodeID: string }>) {
		nodes.get(service.name)?.add(service.nodeID);
	}
	return Object.fromEntries([...nodes].map(([name, serving]) => [name, serving.size]));
}

/** What a gateway keeps between its readiness checks. */
export interface GatewayMemory {
	/** the services its routes call (reported in `components.services`) */
	readonly routed: readonly string[];
	/** those that have had a live node since the gateway started: until all have, it is not ready */
	seen: ReadonlySet<string>;
	/** each consumer's last answer: its lag is still shown (and grows) while it does not answer */
	readonly consumers: Map<string, ConsumerSelfReport>;
	/** each relay's last answer, the same way */
	readonly relays: Map<string, RelayFigures>;
}

export function gatewayMemory(routed: readonly string[]): GatewayMemory {
	return { routed, seen: new Set(), consumers: new Map(), relays: new Map() };
}

/**
 * Note the routed services that have a live node now. Called on every change of the registry
 * (not only when /api/ready is asked), so that a service that came and went between two probes
 * still counts as seen: "has had a live node since the gateway started".
 */
export function noteLiveServices(broker: ServiceBroker, memory: GatewayMemory): void {
	memory.seen = sighted(memory.seen, liveNodeCounts(broker, memory.routed));
}

/**
 * Whether some live node serves `service` now. Asked before calling it: Moleculer logs a warning
 * for every call to a service it does not know, and readiness (polled every 2 s by the operations
 * page) and the consumers' sampler would log one each time while a service is down.
 */
export function serviceAvailable(broker: ServiceBroker, service: string): boolean {
	return (broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as Array<{ name: string }>).some((item) => item.name === service);
}

/** A consumer service running on this node answers for itself without the transporter. */
export interface ConsumerProbe {
	consumerSelfReport(): Promise<ConsumerSelfReport>;
}

/** The answer of `call`, or null when none came within the check's deadline. */
async function answerOrNull<T>(call: () => Promise<T>, what: string): Promise<T | null> {
	try {
		return await withDeadline(call(), what);
	} catch {
		return null;
	}
}

/**
 * For a gateway: every consumer of the cluster with its lag (producer's head − its checkpoint),
 * pending retries and dead letters (lib/consumer/consumer-state.ts), and the depth and consumers
 * of its queues as this node's transporter sees them. A consumer that does not answer is shown
 * with its last answer (`lastKnown`, kept by the caller between checks), so its lag grows while
 * it is down. Informative: never changes the gateway's status.
 */
export async function consumerStates(broker: ServiceBroker, lastKnown: Map<string, ConsumerSelfReport>): Promise<Component> {
	const tx = broker.transit?.tx;
	const entries = await Promise.all(
		Object.entries(CONSUMERS).map(async ([name, consumer]) => {
			const local = broker.getLocalService(consumer.service) as (Service & ConsumerProbe) | undefined;
			const [head, now] = await Promise.all([
				serviceAvailable(broker, consumer.producer)
					? answerOrNull(async () => (await broker.call<{ lastSequence: number }>(consumer.logHeadAction)).lastSequence, `${consumer.producer}'s log head`)
					: null,
				local || serviceAvailable(broker, consumer.service)
					? answerOrNull(() => (local ? local.consumerSelfReport() : broker.call<ConsumerSelfReport>(consumer.stateAction)), `${name}'s state`)
					: null,
			]);
			if (now) lastKnown.set(name, now);
			const queueStates =
				tx instanceof ResilientAmqpTransporter
					? await withDeadline(tx.inspectQueues(consumerQueueNames(broker.namespace, consumer)), "RabbitMQ queue check").catch(() => ({}))
					: {};
			return [name, { ...consumerState(consumer.producer, head, now, lastKnown.get(name) ?? null), queues: queueStates }] as const;
		}),
	);
	return { status: "UP", ...Object.fromEntries(entries) };
}

/** Whether some live node serves `action` now (a relay's state action exists only where a relay runs). */
function actionAvailable(broker: ServiceBroker, action: string): boolean {
	return (broker.registry.getActionList({ onlyAvailable: true, skipInternal: true }) as Array<{ name: string }>).some((item) => item.name === action);
}

/**
 * For a gateway: each producer's relay to the AMQP stream, its head, checkpoint and lag
 * (lib/relay/relay-state.ts), asked of any replica of the producer (the figures are its
 * database's). A relay that does not answer is shown with its last answer (`lastKnown`, kept by
 * the caller). Informative: never makes the gateway not ready.
 */
export async function relayStates(broker: ServiceBroker, lastKnown: Map<string, RelayFigures>): Promise<Component> {
	const entries = await Promise.all(
		Object.entries(RELAYS).map(async ([name, relay]) => {
			const offered = actionAvailable(broker, relay.stateAction);
			const now = offered
				? await answerOrNull(async () => {
						const { checkpoint, head } = await broker.call<RelayFigures>(relay.stateAction);
						return { checkpoint, head };
					}, `${name}'s relay state`)
				: null;
			if (now) lastKnown.set(name, now);
			return [name, relayState(relay.producer, offered, now, lastKnown.get(name) ?? null)] as const;
		}),
	);
	return { status: "UP", ...Object.fromEntries(entries) };
}

/**
 * How a node is named in a public answer: `node-` and 8 hex digits of a hash of its id. A node id
 * is `<hostname>-<pid>` by default (a container id and a process id in Docker), which no answer
 * gives away; the name is stable for the node's life, so a watcher can tell nodes apart and see
 * one go. The REPL's `nodes` command shows the real ids to whoever runs a node.
 */
export function publicNodeName(nodeID: string): string {
	return `node-${createHash("sha256").update(nodeID).digest("hex").slice(0, 8)}`;
}

/** The live nodes and the services each runs (Moleculer's registry), by public name: what the operations page lists. */
export function liveNodes(broker: ServiceBroker): Component {
	const nodes = new Map<string, { services: string[]; local: boolean }>();
	for (const node of broker.registry.getNodeList({ onlyAvailable: true, withServices: false }) as Array<{ id: string; local: boolean }>) {
		nodes.set(node.id, { services: [], local: node.local });
	}
	for (const service of broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as Array<{ name: string; nodeID: string }>) {
		nodes.get(service.nodeID)?.services.push(service.name);
	}
	return { status: "UP", ...Object.fromEntries([...nodes].map(([id, node]) => [publicNodeName(id), node])) };
}

/** The services component of a gateway now; the sightings it adds are kept in `memory`. */
function routedServices(broker: ServiceBroker, memory: GatewayMemory): Component {
	const { component, seen } = servicesComponent(liveNodeCounts(broker, memory.routed), memory.seen);
	memory.seen = seen;
	return component;
}

/**
 * `gateway`: on a gateway node, what it keeps between checks (gatewayMemory); then the services
 * its routes call, the cluster's consumers, nodes and relays are reported too.
 */
export async function checkReadiness(broker: ServiceBroker, dbOwners: readonly string[], gateway?: GatewayMemory): Promise<Readiness> {
	const components = {
		database: await databases(broker, dbOwners),
		transporter: transporter(broker),
		cacher: await cacher(broker),
		queues: await queues(broker, dbOwners),
		...(gateway
			? {
					services: routedServices(broker, gateway),
					consumers: await consumerStates(broker, gateway.consumers),
					nodes: liveNodes(broker),
					relays: await relayStates(broker, gateway.relays),
				}
			: {}),
	};
	const started = (broker as ServiceBroker & { started?: boolean }).started === true;
	return { status: nodeStatus(started, components), components };
}
