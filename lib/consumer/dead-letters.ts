/**
 * Dead letters across the consumers (the client and goal services), for the admin API and the
 * REPL: listed and filtered, edited before replay, retried or discarded (one, or all a filter
 * selects), purged once their retention is over. A dead letter's id names its consumer and its
 * row: `goals-12`. Each consumer keeps its own in its database (lib/consumer/retries.ts); this
 * file asks the ones a call concerns.
 */
import { Errors, type ServiceBroker } from "moleculer";
import { CONSUMERS, type ConsumerDeclaration, ID_MAX } from "../constants";
import { type Page, type PageRequest, pageWindow, toPage } from "../domain/pagination";
import type { DeadLetterFilter } from "./dead-letter-query";
import { type DeadLetter, DeadLetterNotFoundError } from "./retries";

export { DeadLetterNotFoundError } from "./retries";

const ALL: readonly ConsumerDeclaration[] = Object.values(CONSUMERS);
/** `<consumer>-<row id>`, the id written as the API writes it (no sign, no leading zero). */
const DEAD_LETTER_ID = new RegExp(`^(${ALL.map((consumer) => consumer.service).join("|")})-([1-9]\\d*)$`);

/** The list's and the bulk calls' filter: the consumers' own (lib/consumer/dead-letter-query.ts), and whose letters. */
export interface ConsumerFilter extends DeadLetterFilter {
	/** one consumer's letters only (`goals`, `clients`) */
	consumer?: string;
}

function available(broker: ServiceBroker, service: string): boolean {
	return broker.registry.getServiceList({ onlyAvailable: true }).some((item) => item.name === service);
}

/** The consumers a filter concerns (its `consumer`, or all of them) that can be asked now; 503 if none can. */
function consumersFor(broker: ServiceBroker, filter: ConsumerFilter, action: string): ConsumerDeclaration[] {
	const concerned = ALL.filter((consumer) => filter.consumer === undefined || consumer.service === filter.consumer);
	const reachable = concerned.filter((consumer) => available(broker, consumer.service));
	if (reachable.length === 0) throw new Errors.ServiceNotAvailableError({ action, nodeID: broker.nodeID });
	return reachable;
}

/** The consumers' own filter: without `consumer` (it picks whose table) and without what is not given. */
function ownFilter(filter: ConsumerFilter): DeadLetterFilter {
	const { eventType, entityId, error, from, to, state } = filter;
	const own: DeadLetterFilter = { eventType, entityId, error, from, to, state };
	for (const key of Object.keys(own) as Array<keyof DeadLetterFilter>) if (own[key] === undefined) delete own[key];
	return own;
}

/**
 * One page of the dead letters a filter selects: the consumers in their declared order (goals,
 * then clients), each one's by id. Each consumer is asked for the part of the page it holds, so
 * no answer and no call carries more than a page, however many dead letters there are.
 * 503 if no consumer the filter concerns can be asked.
 */
export async function listDeadLetters(broker: ServiceBroker, request: PageRequest & ConsumerFilter = {}): Promise<Page<DeadLetter>> {
	const reachable = consumersFor(broker, request, "deadLetters");
	const filter = ownFilter(request);
	const { page, pageSize, offset } = pageWindow(request);
	const rows: DeadLetter[] = [];
	let total = 0;
	// in turn: where the page starts in a consumer's letters depends on how many the ones before it hold
	for (const consumer of reachable) {
		const slice = await broker.call<{ rows: DeadLetter[]; total: number }, { offset: number; limit: number; filter: DeadLetterFilter }>(
			consumer.deadLettersAction,
			{ offset: Math.max(0, offset - total), limit: pageSize - rows.length, filter },
		);
		rows.push(...slice.rows);
		total += slice.total;
	}
	return toPage(rows, total, page, pageSize);
}

/** The consumer and row a dead letter's id names; 404 for an id no row can have. */
function parseId(id: string): { consumer: ConsumerDeclaration; row: number } {
	const match = DEAD_LETTER_ID.exec(id);
	// No row has id 0 or one beyond the id range: unknown, not a malformed call to the consumer
	// (`clients-0` would fail its params check, a huge id PostgreSQL's integer column).
	const consumer = ALL.find((declared) => declared.service === match?.[1]);
	if (!match || !consumer || Number(match[2]) > ID_MAX) throw new DeadLetterNotFoundError(id);
	return { consumer, row: Number(match[2]) };
}

/** One dead letter, in whatever state (404 if there is none with that id). */
export async function readDeadLetter(broker: ServiceBroker, id: string): Promise<DeadLetter> {
	const { consumer, row } = parseId(id);
	const letter = await broker.call<DeadLetter | null, { id: number }>(consumer.deadLetterAction, { id: row });
	if (!letter || letter.state === "pending") throw new DeadLetterNotFoundError(id);
	return letter;
}

/** Give a dead letter a fresh set of attempts, starting now; it is applied within moments (its event as edited, if it was). */
export async function retryDeadLetter(broker: ServiceBroker, id: string): Promise<DeadLetter> {
	const { consumer, row } = parseId(id);
	const revived = await broker.call<DeadLetter | null, { id: number }>(consumer.retryDeadLetterAction, { id: row });
	if (!revived) throw new DeadLetterNotFoundError(id);
	return revived;
}

/**
 * Replace a dead letter's event before it is replayed (`by`: the admin token's id, or `repl`).
 * 422 naming each field at fault (nothing changed), 404 if it is no dead letter.
 */
export function editDeadLetter(broker: ServiceBroker, id: string, event: unknown, by: string): Promise<DeadLetter> {
	const { consumer, row } = parseId(id);
	return broker.call<DeadLetter, { id: number; event: unknown; by: string }>(consumer.editDeadLetterAction, { id: row, event, by });
}

/** Discard one dead letter: kept as discarded for DEAD_LETTER_RETENTION_DAYS, then purged. */
export async function discardDeadLetter(broker: ServiceBroker, id: string): Promise<DeadLetter> {
	const { consumer, row } = parseId(id);
	const discarded = await broker.call<DeadLetter | null, { id: number }>(consumer.discardDeadLetterAction, { id: row });
	if (!discarded) throw new DeadLetterNotFoundError(id);
	return discarded;
}

/** Retry every dead letter a filter selects, of every consumer it concerns: how many. */
export async function retryDeadLetters(broker: ServiceBroker, filter: ConsumerFilter): Promise<{ retried: number }> {
	let retried = 0;
	for (const consumer of consumersFor(broker, filter, "retryDeadLetters")) {
		const answer = await broker.call<{ retried: number }, { filter: DeadLetterFilter }>(consumer.retryDeadLettersAction, { filter: ownFilter(filter) });
		retried += answer.retried;
	}
	return { retried };
}

/** Discard every dead letter a filter selects, of every consumer it concerns: how many. */
export async function discardDeadLetters(broker: ServiceBroker, filter: ConsumerFilter): Promise<{ discarded: number }> {
	let discarded = 0;
	for (const consumer of consumersFor(broker, filter, "discardDeadLetters")) {
		const answer = await broker.call<{ discarded: number }, { filter: DeadLetterFilter }>(consumer.discardDeadLettersAction, {
			filter: ownFilter(filter),
		});
		discarded += answer.discarded;
	}
	return { discarded };
}

/**
 * Purge the settled dead letters (discarded, replayed) whose retention is over, of every consumer
 * (each does so by itself every hour): as of `asOf` (ISO), a later time purging what would be
 * purged then. How many.
 */
export async function purgeDeadLetters(broker: ServiceBroker, asOf?: string): Promise<{ purged: number }> {
	let purged = 0;
	for (const consumer of consumersFor(broker, {}, "purgeDeadLetters")) {
		const answer = await broker.call<{ purged: number }, { asOf?: string }>(consumer.purgeDeadLettersAction, asOf === undefined ? {} : { asOf });
		purged += answer.purged;
	}
	return { purged };
}
