/**
 * Edit before replay: given a dead letter's event and an operator's replacement, then what is
 * wrong with the replacement, field by field (`event.<field>`), or nothing.
 */
import { editProblems, immutableFields } from "../../lib/consumer/dead-letter-edit";

const clientEvent = {
	eventId: "0b0c4a1e-8f3b-4d2a-9c7e-2f1a3b4c5d6e",
	eventType: "UPDATED",
	source: "clients",
	timestamp: "2026-01-01T00:00:00.000Z",
	sequence: 12,
	version: 3,
	clientId: 5,
	clientName: "Ann",
	clientEmail: "ann@example.com",
};

const goalEvent = {
	eventId: "1b0c4a1e-8f3b-4d2a-9c7e-2f1a3b4c5d6e",
	eventType: "CREATED",
	source: "goals",
	timestamp: "2026-01-01T00:00:00.000Z",
	sequence: 4,
	version: 1,
	goalId: 9,
	clientId: 5,
	goalName: "House",
	targetAmount: 10,
};

const fields = (problems: Array<{ field: string }>) => problems.map((problem) => problem.field);

test("given a change of what the event says, then nothing is wrong", () => {
	expect(editProblems("clients", clientEvent, { ...clientEvent, clientName: "Ann Lee", clientEmail: "ann.lee@example.com" })).toEqual([]);
	expect(editProblems("goals", goalEvent, { ...goalEvent, goalName: "Flat", targetAmount: 12.5, clientId: 6 })).toEqual([]);
});

test("given a field the schema refuses, then a problem naming it as the request does", () => {
	const problems = editProblems("clients", clientEvent, { ...clientEvent, clientName: " Ann " });
	expect(problems).toEqual([expect.objectContaining({ field: "event.clientName", type: "trimmed", message: expect.stringContaining("'event.clientName'") })]);
});

test("given two fields refused, then both are named", () => {
	expect(fields(editProblems("goals", goalEvent, { ...goalEvent, goalName: "", targetAmount: 1.234 }))).toEqual(["event.goalName", "event.targetAmount"]);
});

test.each(immutableFields("clients").map((field) => [field]))("given a client event's %s changed, then it is refused as immutable", (field) => {
	const original = clientEvent as Record<string, unknown>;
	const changed = typeof original[field] === "number" ? (original[field] as number) + 1 : "2b0c4a1e-8f3b-4d2a-9c7e-2f1a3b4c5d6e";
	const problems = editProblems("clients", clientEvent, { ...clientEvent, [field]: changed });
	expect(problems).toContainEqual(expect.objectContaining({ field: `event.${field}`, type: "immutable", actual: changed }));
});

test("given a goal event, then its goal id is the entity id that cannot change, and its client id may", () => {
	expect(immutableFields("goals")).toEqual(["eventId", "sequence", "version", "goalId"]);
	expect(fields(editProblems("goals", goalEvent, { ...goalEvent, goalId: 10 }))).toEqual(["event.goalId"]);
});

test("given a field left out, then it is refused, and an immutable one left out is named twice: missing and changed", () => {
	const { clientEmail: _email, version: _version, ...rest } = clientEvent;
	const problems = fields(editProblems("clients", clientEvent, rest));
	expect(problems).toEqual(expect.arrayContaining(["event.clientEmail", "event.version"]));
	expect(problems.filter((field) => field === "event.version")).toHaveLength(2);
});

test("given a version above the sequence, then the version is named", () => {
	expect(fields(editProblems("clients", { ...clientEvent, version: 13 }, { ...clientEvent, version: 13 }))).toEqual(["event.version"]);
});

test.each([
	["an array", [clientEvent]],
	["a string", "{}"],
	["null", null],
])("given %s for the event, then the event itself is named", (_what, edited) => {
	expect(editProblems("clients", clientEvent, edited)).toEqual([expect.objectContaining({ field: "event", type: "object" })]);
});

test("given a dead letter whose payload was no object (refused as it came), then it cannot be edited", () => {
	expect(editProblems("clients", "garbage", clientEvent)).toEqual([expect.objectContaining({ field: "event", type: "notEditable" })]);
});

test("given an unknown extra field, then it is let through, as a consumer lets it through", () => {
	expect(editProblems("clients", clientEvent, { ...clientEvent, note: "from a newer producer" })).toEqual([]);
});
