/**
 * The consumers' pauses, for the admin API and the REPL: each consumer's state, an operator's
 * pause and resume (CONTRACT.md, "Operating consumers"). A consumer is named by its service:
 * `goals` (its copy of clients), `clients` (its copy of goals). The pause is kept in the
 * consumer's database; whichever of its replicas is asked records it and tells the others.
 */
import { Errors, type ServiceBroker } from "moleculer";
import { CONSUMERS, type ConsumerDeclaration } from "../constants";
import type { ConsumerPause } from "./pause-rules";
import { ConsumerNotFoundError } from "./rebuilds";

const ALL: readonly ConsumerDeclaration[] = Object.values(CONSUMERS);

function available(broker: ServiceBroker, service: string): boolean {
	return broker.registry.getServiceList({ onlyAvailable: true }).some((item) => item.name === service);
}

function consumerNamed(name: string): ConsumerDeclaration {
	const consumer = ALL.find((declared) => declared.service === name);
	if (!consumer) throw new ConsumerNotFoundError(name);
	return consumer;
}

/** 503 when no replica of the consumer is up: its pause is in its database, which only it reads. */
function reachable(broker: ServiceBroker, consumer: ConsumerDeclaration, action: string): void {
	if (!available(broker, consumer.service)) throw new Errors.ServiceNotAvailableError({ action, nodeID: broker.nodeID });
}

/** Each consumer that has a live replica, in declared order (goals, clients), with its state; 503 if none has. */
export async function listConsumers(broker: ServiceBroker): Promise<ConsumerPause[]> {
	const up = ALL.filter((consumer) => available(broker, consumer.service));
	if (up.length === 0) throw new Errors.ServiceNotAvailableError({ action: "consumers", nodeID: broker.nodeID });
	return Promise.all(up.map((consumer) => broker.call<ConsumerPause, Record<string, never>>(consumer.pauseStateAction, {})));
}

/** An operator's pause (`by`: the admin token's id, or `repl`): its events wait in their queues until it is resumed. */
export function pauseConsumer(broker: ServiceBroker, name: string, by: string, reason?: string): Promise<ConsumerPause> {
	const consumer = consumerNamed(name);
	reachable(broker, consumer, consumer.pauseAction);
	return broker.call<ConsumerPause, { by: string; reason?: string }>(consumer.pauseAction, reason === undefined ? { by } : { by, reason });
}

/** An operator's resume: the consumer takes its events again, its failures counted from 0. */
export function resumeConsumer(broker: ServiceBroker, name: string, by: string): Promise<ConsumerPause> {
	const consumer = consumerNamed(name);
	reachable(broker, consumer, consumer.resumeAction);
	return broker.call<ConsumerPause, { by: string }>(consumer.resumeAction, { by });
}
