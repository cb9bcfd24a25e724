/**
 * The snapshot rules, given/when/then: which events make the snapshot at a sequence, how a
 * page's cursor moves, at which sequence a page is read, when a consumer starts from a snapshot,
 * what a rebuild page writes, leaves and removes, and how progress reads.
 */
import {
	lastEventsAt,
	nextCursor,
	pageRange,
	planRebuildPage,
	progressDue,
	progressLine,
	snapshotSequence,
	startsFromSnapshot,
} from "../../lib/domain/snapshot";
import type { Held } from "../../lib/domain/projection-rules";

interface Ev {
	entity: number;
	sequence: number;
	version: number;
	type: "CREATED" | "UPDATED" | "DELETED";
}

const ev = (entity: number, sequence: number, version: number, type: Ev["type"] = version === 1 ? "CREATED" : "UPDATED"): Ev => ({
	entity,
	sequence,
	version,
	type,
});
const entityOf = (event: Ev) => event.entity;

describe("lastEventsAt: the snapshot at S is each entity's last event with sequence ≤ S", () => {
	// 1 created, renamed, deleted; 2 created, renamed after S; 3 created after S
	const log = [ev(1, 1, 1), ev(2, 2, 1), ev(1, 3, 2), ev(1, 4, 3, "DELETED"), ev(2, 5, 2), ev(3, 6, 1)];

	test("given a log, when the snapshot is taken at 4, then it holds 1's tombstone and 2's first state, by entity id", () => {
		expect(lastEventsAt(log, 4, entityOf)).toEqual([ev(1, 4, 3, "DELETED"), ev(2, 2, 1)]);
	});
	test("given the same log, when taken at its head, then every entity at its last event", () => {
		expect(lastEventsAt(log, 6, entityOf)).toEqual([ev(1, 4, 3, "DELETED"), ev(2, 5, 2), ev(3, 6, 1)]);
	});
	test("given any log, when taken at 0, then it is empty", () => {
		expect(lastEventsAt(log, 0, entityOf)).toEqual([]);
	});
	test("given events out of order, then the highest sequence wins", () => {
		expect(lastEventsAt([ev(1, 3, 2), ev(1, 1, 1)], 9, entityOf)).toEqual([ev(1, 3, 2)]);
	});
});

describe("nextCursor: keyset paging by entity id", () => {
	test("given a full page, when asked for the next, then it starts after the page's last entity", () => {
		expect(nextCursor([4, 7, 9], 3)).toBe(9);
	});
	test("given a page shorter than the limit, then there is no next page", () => {
		expect(nextCursor([4, 7], 3)).toBeNull();
	});
	test("given an empty page, then there is no next page", () => {
		expect(nextCursor([], 3)).toBeNull();
	});
});

describe("pageRange: the ids a page speaks for", () => {
	test("given a cursor 9 and a next cursor 20, then (9, 20]", () => {
		expect(pageRange(9, 20)).toEqual({ after: 9, upTo: 20 });
	});
	test("given the last page, then from the cursor to the end", () => {
		expect(pageRange(20, null)).toEqual({ after: 20, upTo: null });
	});
});

describe("snapshotSequence: the sequence a page is read at", () => {
	test("given no sequence (the first page), then the log's head", () => {
		expect(snapshotSequence(undefined, 42)).toEqual({ ok: true, atSequence: 42 });
	});
	test("given the first page's sequence, when the head moved on, then still that sequence", () => {
		expect(snapshotSequence(40, 42)).toEqual({ ok: true, atSequence: 40 });
	});
	test("given a sequence beyond the head (rows that may still be committing), then refused", () => {
		expect(snapshotSequence(43, 42)).toEqual({ ok: false });
	});
});

describe("startsFromSnapshot: when a catch-up bootstraps", () => {
	test("given no checkpoint (new, or reset by deleting it), then from the snapshot", () => {
		expect(startsFromSnapshot(null)).toBe(true);
	});
	test("given a checkpoint at 0, then it replays the log from its start", () => {
		expect(startsFromSnapshot(0)).toBe(false);
	});
	test("given a checkpoint, then it reads the log after it", () => {
		expect(startsFromSnapshot(17)).toBe(false);
	});
});

describe("planRebuildPage: what a rebuild does to a page's range", () => {
	const held = (entries: Array<[number, number, boolean?]>): Map<number, Held> =>
		new Map(entries.map(([id, version, deleted]) => [id, { version, deleted: deleted ?? false }]));

	test("given nothing held, then every snapshot state is written and nothing removed", () => {
		const plan = planRebuildPage(held([]), [ev(1, 3, 2), ev(2, 5, 1)], entityOf, { after: 0, upTo: 2 });
		expect(plan).toEqual({ write: [ev(1, 3, 2), ev(2, 5, 1)], newer: [], remove: [] });
	});
	test("given a held row at the same or an older version, then it is written over (that repairs a damaged row)", () => {
		const plan = planRebuildPage(
			held([
				[1, 2],
				[2, 1, true],
			]),
			[ev(1, 3, 2), ev(2, 5, 3, "DELETED")],
			entityOf,
			{ after: 0, upTo: 2 },
		);
		expect(plan.write).toEqual([ev(1, 3, 2), ev(2, 5, 3, "DELETED")]);
	});
	test("given a held row newer than the snapshot (a live event after S), then it stays", () => {
		const plan = planRebuildPage(held([[1, 4]]), [ev(1, 3, 2)], entityOf, { after: 0, upTo: 1 });
		expect(plan).toEqual({ write: [], newer: [ev(1, 3, 2)], remove: [] });
	});
	test("given held rows the snapshot lacks, inside the page's range, then they are to be removed", () => {
		const plan = planRebuildPage(
			held([
				[1, 1],
				[5, 1],
				[8, 2],
			]),
			[ev(1, 1, 1)],
			entityOf,
			{ after: 0, upTo: 9 },
		);
		expect(plan.remove).toEqual([5, 8]);
	});
	test("given held rows outside the page's range, then the page leaves them to the pages that speak for them", () => {
		const plan = planRebuildPage(
			held([
				[3, 1],
				[10, 1],
				[11, 1],
			]),
			[ev(10, 1, 1)],
			entityOf,
			{ after: 3, upTo: 10 },
		);
		expect(plan.remove).toEqual([]);
	});
	test("given the last page (no upper bound), then every held row after the cursor the snapshot lacks is removed", () => {
		const plan = planRebuildPage(
			held([
				[10, 1],
				[11, 1],
				[900, 1],
			]),
			[ev(10, 1, 1)],
			entityOf,
			{ after: 9, upTo: null },
		);
		expect(plan.remove).toEqual([11, 900]);
	});
	test("given a tombstone in the snapshot over a living row, then the tombstone is written", () => {
		const plan = planRebuildPage(held([[1, 2]]), [ev(1, 4, 3, "DELETED")], entityOf, { after: 0, upTo: 1 });
		expect(plan.write).toEqual([ev(1, 4, 3, "DELETED")]);
	});
});

describe("progress", () => {
	test("given a bootstrap part-way, then the line says whose copy, the sequence and how far", () => {
		expect(progressLine("bootstrap", "goals' copy of clients", 300000, 40000, 100000)).toBe(
			"Bootstrapping goals' copy of clients from snapshot at #300000: 40,000 / 100,000 entities",
		);
	});
	test("given a rebuild whose total is not known, then the line has no total", () => {
		expect(progressLine("rebuild", "clients' copy of goals", 12, 5, undefined)).toBe("Rebuilding clients' copy of goals from snapshot at #12: 5 entities");
	});
	test("given the last line 1.9 s ago and a period of 2 s, then not yet; at 2 s, then due", () => {
		expect(progressDue(1000, 2900, 2000)).toBe(false);
		expect(progressDue(1000, 3000, 2000)).toBe(true);
	});
});
