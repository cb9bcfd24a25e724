/**
 * A dead-letter filter as the WHERE clause over a consumer's retry table, and the columns a row
 * is found by. Given a filter, then the clause and its parameters; the integration tests run the
 * clause on both databases (test/integration/dead-letter-store.test.ts).
 */
import { deadLetterWhere, indexedFields } from "../../lib/consumer/dead-letter-query";

test("given no filter, then the dead ones only (the default state)", () => {
	expect(deadLetterWhere({}, "sqlite")).toEqual({ text: `"status" = ?`, params: ["dead"] });
});

test("given a state, then that state instead", () => {
	expect(deadLetterWhere({ state: "discarded" }, "postgres")).toEqual({ text: `"status" = ?`, params: ["discarded"] });
});

test("given every key, then each condition in turn, combined with AND, its parameter in its place", () => {
	const where = deadLetterWhere(
		{ state: "replayed", eventType: "UPDATED", entityId: 7, error: "Injected", from: "2026-03-01T10:00:00Z", to: "2026-03-02T10:00:00.000+02:00" },
		"sqlite",
	);
	expect(where.text).toBe(`"status" = ? AND "eventType" = ? AND "entityId" = ? AND instr("lastError", ?) > 0 AND "createdAt" >= ? AND "createdAt" < ?`);
	// SQLite's times in Sequelize's text form, in UTC: they compare in time order as text
	expect(where.params).toEqual(["replayed", "UPDATED", 7, "Injected", "2026-03-01 10:00:00.000 +00:00", "2026-03-02 08:00:00.000 +00:00"]);
});

test("given PostgreSQL, then the error is found with strpos and the times are bound as Dates", () => {
	const where = deadLetterWhere({ error: "50%_off", from: "2026-03-01T10:00:00Z" }, "postgres");
	expect(where.text).toBe(`"status" = ? AND strpos("lastError", ?) > 0 AND "createdAt" >= ?`);
	// a plain substring: % and _ are no wildcards
	expect(where.params).toEqual(["dead", "50%_off", new Date("2026-03-01T10:00:00Z")]);
});

test("given only a time window, then from is inclusive and to exclusive", () => {
	expect(deadLetterWhere({ from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z" }, "postgres").text).toBe(
		`"status" = ? AND "createdAt" >= ? AND "createdAt" < ?`,
	);
});

describe("the columns a row is found by", () => {
	test("given a client event, then its type and client id", () => {
		expect(indexedFields("clients", { eventType: "UPDATED", clientId: 12, clientName: "Ann" })).toEqual({ eventType: "UPDATED", entityId: 12 });
	});

	test("given a goal event, then its type and goal id (not its client's)", () => {
		expect(indexedFields("goals", { eventType: "DELETED", goalId: 3, clientId: 12 })).toEqual({ eventType: "DELETED", entityId: 3 });
	});

	test.each([
		["not an object", "nonsense"],
		["null", null],
		["an array", [1, 2]],
		["an unknown type and a text id", { eventType: "RENAMED", clientId: "12" }],
		["a negative id and no type", { clientId: -1 }],
		["an id beyond the 32-bit range", { eventType: 1, clientId: 2 ** 31 }],
	])("given a refused payload (%s), then nothing it cannot be trusted with", (_what, payload) => {
		expect(indexedFields("clients", payload)).toEqual({ eventType: null, entityId: null });
	});

	test("given a refused payload with a valid type only, then the type alone", () => {
		expect(indexedFields("clients", { eventType: "CREATED", clientId: 1.5 })).toEqual({ eventType: "CREATED", entityId: null });
	});
});
