/**
 * The parameter schemas (fastest-validator) of every action a REST route calls, in one place:
 * the services validate with them, and the OpenAPI document (lib/http/openapi.ts) is generated
 * from them, so the reference cannot drift from what is enforced. Every schema is strict: an
 * unknown field is a 422 naming it.
 */
import { CONSUMERS, DEAD_LETTER_STATES, EVENT_TYPES } from "../constants";
import { EVENT_MESSAGES, isoTimestamp } from "./event-schema";
import { historyParams, pageParams } from "./pagination";
import { amountParam, emailParam, idParam, nameParam } from "./params";
import { TEXT_MESSAGES, wellFormedText } from "./text";

/**
 * What dead letters are selected by (CONTRACT.md, `GET /api/admin/dead-letters`), every key
 * optional; the list's query and the bulk calls' `filter`. `error` is text even when it looks
 * like a number (`?error=500`, which the gateway reads as one).
 */
const deadLetterFilter = {
	consumer: { type: "enum", values: Object.values(CONSUMERS).map((consumer) => consumer.service), optional: true },
	eventType: { type: "enum", values: [...EVENT_TYPES], optional: true },
	entityId: { ...idParam, optional: true },
	error: { type: "string", min: 1, max: 200, convert: true, optional: true },
	from: { type: "string", max: 40, custom: isoTimestamp, messages: EVENT_MESSAGES, optional: true },
	to: { type: "string", max: 40, custom: isoTimestamp, messages: EVENT_MESSAGES, optional: true },
} as const;

/** A bulk call's filter: the list's keys; its state can only be `dead` (only those are retried or discarded). */
const bulkFilter = {
	type: "object",
	strict: true,
	props: { ...deadLetterFilter, state: { type: "enum", values: ["dead"], optional: true } },
} as const;

/** A consumer as the admin routes name it (`goals`, `clients`); an unknown one is a 404, not a 422. */
const consumerName = { type: "string", min: 1, max: 100 } as const;

export const ACTION_PARAMS = {
	"clients.create": { name: nameParam, email: emailParam, $$strict: true },
	"clients.list": { ...pageParams, $$strict: true },
	"clients.get": { id: idParam, $$strict: true },
	"clients.update": { id: idParam, name: { ...nameParam, optional: true }, email: { ...emailParam, optional: true }, $$strict: true },
	"clients.remove": { id: idParam, $$strict: true },
	"clients.goals": { id: idParam, $$strict: true },
	"clients.history": { id: idParam, ...historyParams, $$strict: true },
	"goals.create": { clientId: idParam, goalName: nameParam, targetAmount: amountParam, $$strict: true },
	"goals.list": { clientId: { ...idParam, optional: true }, ...pageParams, $$strict: true },
	"goals.get": { id: idParam, $$strict: true },
	// no clientId: a goal's client never changes, so strict mode answers 422 naming it
	"goals.update": { id: idParam, goalName: { ...nameParam, optional: true }, targetAmount: { ...amountParam, optional: true }, $$strict: true },
	"goals.remove": { id: idParam, $$strict: true },
	"goals.history": { id: idParam, ...historyParams, $$strict: true },
	"api.health": {},
	"api.ready": {},
	"api.openapi": {},
	"api.asyncapi": {},
	"api.docs": {},
	"api.docsAsset": { asset: { type: "string", min: 1, max: 100 }, $$strict: true },
	// no action: the operations page is a file (lib/http/routes.ts, OPS_ROUTES); the name of its operation
	"api.ops": {},
	"api.deadLetters": { ...pageParams, ...deadLetterFilter, state: { type: "enum", values: [...DEAD_LETTER_STATES], optional: true }, $$strict: true },
	"api.retryDeadLetter": { id: { type: "string", min: 1 }, $$strict: true },
	"api.editDeadLetter": { id: { type: "string", min: 1 }, event: { type: "object" }, $$strict: true },
	"api.retryDeadLetters": { filter: bulkFilter, $$strict: true },
	"api.discardDeadLetters": { filter: bulkFilter, $$strict: true },
	"api.consumers": { $$strict: true },
	"api.pauseConsumer": {
		consumer: consumerName,
		reason: { type: "string", min: 1, max: 200, custom: wellFormedText, messages: TEXT_MESSAGES, optional: true },
		$$strict: true,
	},
	"api.resumeConsumer": { consumer: consumerName, $$strict: true },
	"api.rebuild": { consumer: consumerName, $$strict: true },
	"api.rebuildState": { consumer: consumerName, $$strict: true },
} as const;

export type RoutedAction = keyof typeof ACTION_PARAMS;
