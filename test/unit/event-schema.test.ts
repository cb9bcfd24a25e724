/**
 * The schema check of consumed events (lib/domain/event-schema.ts): the contract's shapes, the
 * REST rules for names, emails and amounts, positive whole numbers within the 32-bit columns,
 * the producer as source, and the event name matching its type. Pure: no broker, no database.
 */
import { randomUUID } from "node:crypto";
import { ID_MAX } from "../../lib/constants";
import { checkEvent } from "../../lib/domain/event-schema";

const clientEvent = (fields: Record<string, unknown> = {}) => ({
	eventId: randomUUID(),
	eventType: "UPDATED",
	source: "clients",
	timestamp: "2026-11-26T10:00:00.000Z",
	sequence: 12,
	version: 3,
	clientId: 7,
	clientName: "Ann Smith",
	clientEmail: "ann@example.com",
	...fields,
});

const goalEvent = (fields: Record<string, unknown> = {}) => ({
	eventId: randomUUID(),
	eventType: "CREATED",
	source: "goals",
	timestamp: "2026-11-26T10:00:00.000Z",
	sequence: 40,
	version: 1,
	goalId: 9,
	clientId: 7,
	goalName: "House",
	targetAmount: 250000.5,
	...fields,
});

/** the fields named in the problems of a rejected payload */
function rejected(result: ReturnType<typeof checkEvent>): string {
	expect(result.ok).toBe(false);
	return result.ok ? "" : result.problems.join(" | ");
}

describe("a well-formed event passes, unchanged", () => {
	test.each([
		["client.updated", "clients", clientEvent()],
		["client.created", "clients", clientEvent({ eventType: "CREATED", version: 1, clientEmail: "ann@example.xn--p1ai" })],
		["client.deleted", "clients", clientEvent({ eventType: "DELETED", version: 12, sequence: 12, timestamp: "2026-11-26T10:00:00+01:00" })],
		["goal.created", "goals", goalEvent()],
		["goal.updated", "goals", goalEvent({ eventType: "UPDATED", version: 2, targetAmount: 0.3, goalName: "Ünïcödé 🏠" })],
		["goal.deleted", "goals", goalEvent({ eventType: "DELETED", version: 40, targetAmount: 1e12 })],
	] as const)("%s", (name, producer, payload) => {
		const copy = structuredClone(payload);
		expect(checkEvent(producer, payload, name)).toEqual({ ok: true, event: copy });
		expect(payload).toEqual(copy);
	});

	test("fields beyond the contract's are let through (a producer one release ahead), and ignored", () => {
		expect(checkEvent("clients", clientEvent({ requestId: "r-1" })).ok).toBe(true);
	});
});

describe("a malformed event is refused, each problem named", () => {
	test.each([
		["not an object", null, /must be an object/],
		["an array", [clientEvent()], /must be an object/],
		["a string", "client.deleted", /must be an object/],
		["no field at all", {}, /'eventId' field is required.*'clientEmail' field is required/],
		["eventId not a uuid", clientEvent({ eventId: "1" }), /'eventId'.*UUID/],
		["unknown eventType", clientEvent({ eventType: "PURGED" }), /'eventType'/],
		["another source", clientEvent({ source: "goals" }), /'source'/],
		["timestamp not ISO-8601", clientEvent({ timestamp: "yesterday" }), /'timestamp'.*ISO-8601/],
		["timestamp not a date", clientEvent({ timestamp: "2026-13-45T99:00:00Z" }), /'timestamp'.*ISO-8601/],
		["sequence 0", clientEvent({ sequence: 0 }), /'sequence'/],
		["sequence as text", clientEvent({ sequence: "12" }), /'sequence'/],
		["sequence beyond the 32-bit column", clientEvent({ sequence: ID_MAX + 1 }), /'sequence'/],
		["version fractional", clientEvent({ version: 2.5 }), /'version'/],
		["version negative", clientEvent({ version: -1 }), /'version'/],
		["version beyond the 32-bit column", clientEvent({ version: 2 ** 53, sequence: ID_MAX }), /'version'/],
		["version above its sequence", clientEvent({ version: 13, sequence: 12 }), /'version' field \(13\) cannot exceed the 'sequence'/],
		["clientId 0", clientEvent({ clientId: 0 }), /'clientId'/],
		["clientId as text", clientEvent({ clientId: "7" }), /'clientId'/],
		["clientName empty", clientEvent({ clientName: "" }), /'clientName'/],
		["clientName over 100 characters", clientEvent({ clientName: "x".repeat(101) }), /'clientName'/],
		["clientName untrimmed", clientEvent({ clientName: " Ann" }), /'clientName'.*white space/],
		["clientName with a control character", clientEvent({ clientName: "Ann\u0000" }), /'clientName'.*control characters/],
		["clientName with a lone surrogate", clientEvent({ clientName: "Ann\ud800" }), /'clientName'/],
		["clientEmail not an address", clientEvent({ clientEmail: "ann" }), /'clientEmail'/],
		["clientEmail missing", clientEvent({ clientEmail: undefined }), /'clientEmail' field is required/],
	])("%s", (_what, payload, problem) => {
		expect(rejected(checkEvent("clients", payload))).toMatch(problem);
	});

	test.each([
		["targetAmount 0", goalEvent({ targetAmount: 0 }), /'targetAmount'/],
		["targetAmount above 1e12", goalEvent({ targetAmount: 1e12 + 1 }), /'targetAmount'/],
		["targetAmount with three decimals", goalEvent({ targetAmount: 0.125 }), /'targetAmount'.*two decimals/],
		["targetAmount as text", goalEvent({ targetAmount: "10" }), /'targetAmount'/],
		["targetAmount NaN", goalEvent({ targetAmount: Number.NaN }), /'targetAmount'/],
		["goalId missing", goalEvent({ goalId: undefined }), /'goalId' field is required/],
		["clientId beyond the id range", goalEvent({ clientId: ID_MAX + 1 }), /'clientId'/],
		["a client event's fields", clientEvent({ source: "goals" }), /'goalId' field is required/],
	])("%s", (_what, payload, problem) => {
		expect(rejected(checkEvent("goals", payload))).toMatch(problem);
	});
});

describe("the event's name must match its type and producer", () => {
	test("a CREATED delivered as client.deleted, or a client event as goal.created, is refused", () => {
		expect(rejected(checkEvent("clients", clientEvent({ eventType: "CREATED", version: 1 }), "client.deleted"))).toMatch(/'client.deleted' must carry/);
		expect(rejected(checkEvent("clients", clientEvent(), "goal.updated"))).toMatch(/'goal.updated' must carry/);
	});

	test("without a name (a retry read back from the table) only the payload is checked", () => {
		expect(checkEvent("clients", clientEvent()).ok).toBe(true);
	});
});
