/**
 * The parameter schemas (fastest-validator) of every action a REST route calls, in one place:
 * the services validate with them, and the OpenAPI document (lib/http/openapi.ts) is generated
 * from them, so the reference cannot drift from what is enforced. Every schema is strict: an
 * unknown field is a 422 naming it.
 */
import { historyParams, pageParams } from "./pagination";
import { amountParam, emailParam, idParam, nameParam } from "./params";

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
	"api.deadLetters": { ...pageParams, $$strict: true },
	"api.retryDeadLetter": { id: { type: "string", min: 1 }, $$strict: true },
	"api.rebuild": { consumer: { type: "string", min: 1, max: 100 }, $$strict: true },
	"api.rebuildState": { consumer: { type: "string", min: 1, max: 100 }, $$strict: true },
} as const;

export type RoutedAction = keyof typeof ACTION_PARAMS;
