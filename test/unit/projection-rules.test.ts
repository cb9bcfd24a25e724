/**
 * The projection rules, given/when/then: what is held, the event that arrives, what it does.
 * Every event type against every held state (absent, alive and older, alive and newer or the
 * same, tombstone), then the fold of a batch, the goal service's consequences and the
 * checkpoint's advance.
 */
import { advanceOver, contiguousRun } from "../../lib/consumer/checkpoints";
import type { EventType } from "../../lib/constants";
import { type ClientCopy, clientCopyConsequences, type Decision, decide, foldEvents, type Held } from "../../lib/domain/projection-rules";

interface Case {
	given: string;
	held: Held | null;
	when: EventType;
	version: number;
	then: Decision["kind"];
}

const HELD: Record<string, Held | null> = {
	absent: null,
	"alive at v2 (older)": { version: 2, deleted: false },
	"alive at v5 (newer)": { version: 5, deleted: false },
	"alive at v3 (the same)": { version: 3, deleted: false },
	"a tombstone at v2": { version: 2, deleted: true },
	"a tombstone at v5": { version: 5, deleted: true },
};

const APPLIES: Record<EventType, Decision["kind"]> = { CREATED: "upsert", UPDATED: "upsert", DELETED: "tombstone" };

const cases: Case[] = [];
for (const when of ["CREATED", "UPDATED", "DELETED"] as const) {
	for (const [given, held] of Object.entries(HELD)) {
		// an event at version 3 meets each held state
		const then = held === null || (!held.deleted && held.version < 3) ? APPLIES[when] : "stale";
		cases.push({ given, held, when, version: 3, then });
	}
}

describe("decide: the version guard and the tombstone", () => {
	test.each(cases)("given $given, when $when v$version arrives, then $then", ({ held, when, version, then }) => {
		expect(decide(held, { eventType: when, version })).toEqual({ kind: then });
	});

	test("a tombstone is final: not even a higher version brings the entity back", () => {
		expect(decide({ version: 2, deleted: true }, { eventType: "UPDATED", version: 9 })).toEqual({ kind: "stale" });
		expect(decide({ version: 2, deleted: true }, { eventType: "CREATED", version: 9 })).toEqual({ kind: "stale" });
	});
});

interface Ev {
	eventType: EventType;
	version: number;
	sequence: number;
	id: number;
	name: string;
}

const ev = (sequence: number, id: number, eventType: EventType, version: number, name = `n${version}`): Ev => ({
	sequence,
	id,
	eventType,
	version,
	name,
});

type State = Held & { name: string };

function fold(held: Map<number, State>, events: Ev[]) {
	return foldEvents<State, Ev>(
		held,
		events,
		(event) => event.id,
		(event, decision) => ({
			version: event.version,
			deleted: decision.kind === "tombstone",
			name: event.name,
		}),
	);
}

describe("foldEvents: a batch applied as one", () => {
	test("given nothing held, when CREATED and two UPDATEs of one entity arrive out of order, then the newest is kept and each counts once", () => {
		const events = [ev(3, 1, "UPDATED", 3), ev(1, 1, "CREATED", 1), ev(2, 1, "UPDATED", 2)];
		const folded = fold(new Map(), events);
		expect(folded.changed.get(1)).toEqual({ version: 3, deleted: false, name: "n3" });
		// folded by sequence: v1, v2, v3 all apply in turn, as one by one would
		expect(folded.applied.map((event) => event.version)).toEqual([1, 2, 3]);
		expect(folded.stale).toEqual([]);
	});

	test("given v2 held, when v1, v2 and v3 arrive, then v1 and v2 are stale and v3 applies", () => {
		const folded = fold(new Map([[1, { version: 2, deleted: false, name: "held" }]]), [ev(1, 1, "CREATED", 1), ev(2, 1, "UPDATED", 2), ev(3, 1, "UPDATED", 3)]);
		expect(folded.stale.map((event) => event.version)).toEqual([1, 2]);
		expect(folded.applied.map((event) => event.version)).toEqual([3]);
		expect(folded.changed.get(1)?.name).toBe("n3");
	});

	test("given an alive entity, when DELETED and then a late UPDATED of a lower version arrive, then the tombstone stays", () => {
		const folded = fold(new Map([[1, { version: 1, deleted: false, name: "a" }]]), [ev(5, 1, "DELETED", 3), ev(4, 1, "UPDATED", 2)]);
		// by sequence: v2 applies, then the tombstone v3
		expect(folded.changed.get(1)).toEqual({ version: 3, deleted: true, name: "n3" });
		expect(folded.applied.map((event) => event.version)).toEqual([2, 3]);
	});

	test("given a tombstone, when the same events are replayed, then nothing changes (run twice)", () => {
		const events = [ev(1, 1, "CREATED", 1), ev(2, 1, "DELETED", 2)];
		const first = fold(new Map(), events);
		const second = fold(first.changed, events);
		expect(second.changed.size).toBe(0);
		expect(second.stale).toHaveLength(2);
	});

	test("entities are independent: one entity's stale events do not hold back another's", () => {
		const folded = fold(new Map([[1, { version: 9, deleted: false, name: "x" }]]), [ev(1, 1, "UPDATED", 2), ev(2, 2, "CREATED", 1)]);
		expect([...folded.changed.keys()]).toEqual([2]);
		expect(folded.stale.map((event) => event.id)).toEqual([1]);
	});
});

describe("clientCopyConsequences: what a new client copy means for its goals", () => {
	const copy = (name: string, version: number, deleted = false): ClientCopy => ({ clientId: 1, name, email: "a@b.c", version, deleted });
	test.each([
		{ given: "nothing held", before: null, after: copy("Ann", 1), then: { cascade: false, rename: true } },
		{ given: "the same name", before: copy("Ann", 1), after: copy("Ann", 2), then: { cascade: false, rename: false } },
		{ given: "another name", before: copy("Ann", 1), after: copy("Bo", 2), then: { cascade: false, rename: true } },
		{ given: "an alive copy", before: copy("Ann", 1), after: copy("Ann", 2, true), then: { cascade: true, rename: false } },
		{ given: "nothing held, a tombstone arrives", before: null, after: copy("Ann", 2, true), then: { cascade: true, rename: false } },
		{ given: "a tombstone already", before: copy("Ann", 2, true), after: copy("Ann", 3, true), then: { cascade: false, rename: false } },
	])("given $given, then $then", ({ before, after, then }) => {
		expect(clientCopyConsequences(before, after)).toEqual(then);
	});
});

describe("advanceOver: the checkpoint moves over what continues it", () => {
	test.each([
		{ current: 4, sequences: [5, 6, 7], position: 7, gap: false },
		{ current: 4, sequences: [7, 5, 6], position: 7, gap: false },
		{ current: 4, sequences: [6, 7], position: 4, gap: true },
		{ current: 4, sequences: [5, 7], position: 5, gap: true },
		{ current: 4, sequences: [3, 4], position: 4, gap: false },
		{ current: 4, sequences: [], position: 4, gap: false },
	])("at $current, after $sequences: $position (gap $gap)", ({ current, sequences, position, gap }) => {
		expect(advanceOver(current, sequences)).toEqual({ position, gap });
	});
});

describe("contiguousRun: a live batch that is one run of the log", () => {
	test.each([
		{ sequences: [5, 6, 7], run: { first: 5, last: 7 } },
		{ sequences: [7, 5, 6, 6], run: { first: 5, last: 7 } },
		{ sequences: [9], run: { first: 9, last: 9 } },
		{ sequences: [5, 7], run: null },
		{ sequences: [], run: null },
	])("given $sequences, then $run", ({ sequences, run }) => {
		expect(contiguousRun(sequences)).toEqual(run);
	});
});
