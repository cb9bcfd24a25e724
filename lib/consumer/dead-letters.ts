/**
 * Dead letters across the consumers (the client and goal services), for the admin API and the
 * REPL. A dead letter's id names its consumer and its row: `goals-12`.
 */
import { Errors, type ServiceBroker } from "moleculer";
import { CONSUMERS, type ConsumerDeclaration, ID_MAX } from "../constants";
import { type Page, type PageRequest, pageWindow, toPage } from "../domain/pagination";
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

/**
 * One page of every consumer's dead letters: the consumers in their declared order (goals, then
 * clients), each one's by id. Each consumer is asked for the part of the page it holds, so no
 * answer and no call carries more than a page, however many dead letters there are.
 * 503 if no consumer can be asked.
 */
export async function listDeadLetters(broker: ServiceBroker, request: PageRequest = {}): Promise<Page<DeadLetter>> {
	const reachable = ALL.filter((consumer) => available(broker, consumer.service));
	if (reachable.length === 0) {
		throw new Errors.ServiceNotAvailableError({ action: "deadLetters", nodeID: broker.nodeID });
	}
	const { page, pageSize, offset } = pageWindow(request);
	const rows: DeadLetter[] = [];
	let total = 0;
	// in turn: where the page starts in a consumer's letters depends on how many the ones before it hold
	for (const consumer of reachable) {
		const slice = await broker.call<{ rows: DeadLetter[]; total: number }, { offset: number; limit: number }>(consumer.deadLettersAction, {
			offset: Math.max(0, offset - total),
			limit: pageSize - rows.length,
		});
		rows.push(...slice.rows);
		total += slice.total;
	}
	return toPage(rows, total, page, pageSize);
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
