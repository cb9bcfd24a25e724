/**
 * Rebuilds across the consumers (the goal and client services' projections), for the admin API
 * and the REPL: start one, and see how it goes. A consumer is named by its service: `goals`
 * (its copy of clients), `clients` (its copy of goals).
 */
import { Errors, type ServiceBroker } from "moleculer";
import { CONSUMERS, type ConsumerDeclaration } from "../constants";
import type { SnapshotProgress } from "./snapshot-runs";

const ALL: readonly ConsumerDeclaration[] = Object.values(CONSUMERS);

/** A rebuild as the admin API answers it: the consumer, whose events it copies, and the run's progress. */
export interface Rebuild extends SnapshotProgress {
	consumer: string;
	producer: string;
}

export class ConsumerNotFoundError extends Errors.MoleculerClientError {
	constructor(name: string) {
		super(`No consumer '${name}': the consumers are ${ALL.map((consumer) => consumer.service).join(", ")}`, 404, "NOT_FOUND", { consumer: name });
		this.name = "NotFoundError";
	}
}

/** No node of that consumer has bootstrapped or rebuilt since it started. */
export class NoRebuildError extends Errors.MoleculerClientError {
	constructor(name: string) {
		super(`No bootstrap or rebuild of '${name}' is known to a live node`, 404, "NOT_FOUND", { consumer: name });
		this.name = "NotFoundError";
	}
}

function consumerNamed(name: string): ConsumerDeclaration {
	const consumer = ALL.find((declared) => declared.service === name);
	if (!consumer) throw new ConsumerNotFoundError(name);
	return consumer;
}

/** The live nodes that run a consumer's service (this one included). */
function nodesOf(broker: ServiceBroker, service: string): string[] {
	const nodes = broker.registry
		.getServiceList({ onlyAvailable: true })
		.filter((item) => item.name === service)
		.map((item) => item.nodeID as string);
	if (nodes.length === 0) throw new Errors.ServiceNotAvailableError({ action: `${service}.rebuild`, nodeID: broker.nodeID });
	return [...new Set(nodes)];
}

function rebuildOf(consumer: ConsumerDeclaration, progress: SnapshotProgress): Rebuild {
	return { consumer: consumer.service, producer: consumer.producer, ...progress };
}

/**
 * Start a rebuild of a consumer's projection on one of its nodes, and answer at once with its
 * progress (the rebuild already running there, if any): a rebuild of 100,000 entities takes
 * longer than any HTTP client should wait. 404 for an unknown consumer, 503 if none of its nodes is up.
 */
export async function startRebuild(broker: ServiceBroker, name: string): Promise<Rebuild> {
	const consumer = consumerNamed(name);
	// one that runs already, on whichever replica: answered as it is, not started twice
	const running = await currentRebuild(broker, consumer).catch(() => null);
	if (running?.state === "running" && running.mode === "rebuild") return running;
	const progress = await broker.call<SnapshotProgress, Record<string, never>>(consumer.rebuildAction, {});
	return rebuildOf(consumer, progress);
}

/** The running bootstrap or rebuild of a consumer, else its latest, as its live nodes tell. 404 when none knows one. */
export async function rebuildState(broker: ServiceBroker, name: string): Promise<Rebuild> {
	const consumer = consumerNamed(name);
	const found = await currentRebuild(broker, consumer);
	if (!found) throw new NoRebuildError(name);
	return found;
}

async function currentRebuild(broker: ServiceBroker, consumer: ConsumerDeclaration): Promise<Rebuild | null> {
	const answers = await Promise.all(
		nodesOf(broker, consumer.service).map((nodeID) =>
			broker.call<SnapshotProgress | null, Record<string, never>>(consumer.rebuildStateAction, {}, { nodeID, timeout: 2000 }).catch(() => null),
		),
	);
	const known = answers.filter((answer): answer is SnapshotProgress => answer !== null);
	if (known.length === 0) return null;
	const running = known.find((answer) => answer.state === "running");
	const latest = running ?? known.sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];
	return rebuildOf(consumer, latest);
}
