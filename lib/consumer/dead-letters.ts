/**
 * Dead letters across the consumers (the client and goal services), for the admin API and the
 * REPL. A dead letter's id names its consumer and its row: `goals-12`.
 */
import { Errors, type ServiceBroker } from "moleculer";
import { CONSUMERS, type ConsumerDeclaration, ID_MAX } from "../constants";
import type { DeadLetter } from "./retries";

const ALL: readonly ConsumerDeclaration[] = Object.values(CONSUMERS);
/** `<consumer>-<row id>`, the id written as the API writes it (no sign, no leading zero). */
const DEAD_LETTER_ID = new RegExp(`^(${ALL.map((consumer) => consumer.service).join("|")})-([1-9]\\d*)$`);

export class DeadLetterNotFoundError extends Errors.MoleculerClientError {
	constructor(id: string) {
		super(`Dead letter '${id}' not found`, 404, "NOT_FOUND", { id });
		this.name = "NotFoundError";
	}
}

function available(broker: ServiceBroker, service: string): boolean {
	return broker.registry.getServiceList({ onlyAvailable: true }).some((item) => item.name === service);
}

/** Every consumer's dead letters, oldest failure first. 503 if no consumer can be asked. */
export async function listDeadLetters(broker: ServiceBroker): Promise<DeadLetter[]> {
	const reachable = ALL.filter((consumer) => available(broker, consumer.service));
	if (reachable.length === 0) {
		throw new Errors.ServiceNotAvailableError({ action: "deadLetters", nodeID: broker.nodeID });
	}
	const lists = await Promise.all(reachable.map((consumer) => broker.call<DeadLetter[]>(consumer.deadLettersAction)));
	return lists.flat().sort((a, b) => a.failedAt.localeCompare(b.failedAt));
}

/** Give a dead letter a fresh set of attempts, starting now; it is applied within moments. */
export async function retryDeadLetter(broker: ServiceBroker, id: string): Promise<DeadLetter> {
	const match = DEAD_LETTER_ID.exec(id);
	// No row has id 0 or one beyond the id range: unknown, not a malformed call to the consumer
	// (`clients-0` would fail its params check, a huge id PostgreSQL's integer column).
	const consumer = ALL.find((declared) => declared.service === match?.[1]);
	if (!match || !consumer || Number(match[2]) > ID_MAX) throw new DeadLetterNotFoundError(id);
	const revived = await broker.call<DeadLetter | null, { id: number }>(consumer.retryDeadLetterAction, { id: Number(match[2]) });
	if (!revived) throw new DeadLetterNotFoundError(id);
	return revived;
}
