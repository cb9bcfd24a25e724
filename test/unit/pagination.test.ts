/**
 * lib/domain/pagination: page 1..1,000,000, pageSize 1..100 (default 10), and the page envelope;
 * the audit trail's afterVersion and limit (1..1,000, default 1,000).
 */
import Validator from "fastest-validator";
import { historyParams, historyWindow, pageParams, pageWindow, toPage } from "../../lib/domain/pagination";

describe("pageWindow", () => {
	test("defaults: first page of 10", () => {
		expect(pageWindow({})).toEqual({ page: 1, pageSize: 10, offset: 0 });
	});

	test.each([
		[{ page: 1, pageSize: 10 }, 0],
		[{ page: 2, pageSize: 10 }, 10],
		[{ page: 3, pageSize: 20 }, 40],
		[{ page: 5 }, 40],
		[{ pageSize: 100 }, 0],
	])("%p starts at row %p", (req, offset) => {
		expect(pageWindow(req).offset).toBe(offset);
	});
});

describe("toPage", () => {
	test.each([
		[0, 10, 0],
		[1, 10, 1],
		[10, 10, 1],
		[11, 10, 2],
		[21, 10, 3],
		[100, 100, 1],
	])("%p rows in pages of %p make %p pages", (total, pageSize, totalPages) => {
		expect(toPage([], total, 1, pageSize).totalPages).toBe(totalPages);
	});

	test("has exactly the contract's fields", () => {
		expect(toPage(["a", "b"], 12, 2, 10)).toEqual({ rows: ["a", "b"], total: 12, page: 2, pageSize: 10, totalPages: 2 });
	});
});

describe("pageParams (as the broker's validator applies them)", () => {
	// No conversion here: the gateway turns numeric path and query text into numbers, so a
	// string reaching the action (e.g. from another service or the REPL) is a mistake.
	const check = new Validator().compile({ ...pageParams, $$strict: true });
	const valid = (params: Record<string, unknown>) => check({ ...params }) === true;

	test("positive whole numbers are accepted, and both are optional", () => {
		expect(valid({ page: 2, pageSize: 25 })).toBe(true);
		expect(valid({ page: 1 })).toBe(true);
		expect(valid({})).toBe(true);
	});

	test("pageSize 100 is the maximum allowed", () => {
		expect(valid({ pageSize: 100 })).toBe(true);
		expect(valid({ pageSize: 101 })).toBe(false);
	});

	test("page 1,000,000 is the maximum allowed: its offset (99,999,900) fits either database", () => {
		expect(valid({ page: 1_000_000, pageSize: 100 })).toBe(true);
		expect(pageWindow({ page: 1_000_000, pageSize: 100 }).offset).toBe(99_999_900);
		expect(valid({ page: 1_000_001 })).toBe(false);
		expect(valid({ page: 1e17 })).toBe(false);
	});

	test.each([
		["page", 0],
		["page", -1],
		["page", 1.5],
		["page", "2"],
		["pageSize", 0],
		["pageSize", 2.5],
		["pageSize", "10"],
	])("%s=%p is rejected", (field, value) => {
		expect(valid({ [field]: value })).toBe(false);
	});

	test("unknown fields are rejected", () => {
		expect(valid({ page: 1, sort: "name" })).toBe(false);
	});
});

describe("historyParams and historyWindow", () => {
	const check = new Validator().compile({ ...historyParams, $$strict: true });
	const valid = (params: Record<string, unknown>) => check({ ...params }) === true;

	test("defaults: from the first version, 1,000 events at most", () => {
		expect(historyWindow({})).toEqual({ afterVersion: 0, limit: 1000 });
		expect(historyWindow({ afterVersion: 7, limit: 5 })).toEqual({ afterVersion: 7, limit: 5 });
	});

	test("afterVersion 0..2^31-1 and limit 1..1,000 are accepted, and both are optional", () => {
		expect(valid({})).toBe(true);
		expect(valid({ afterVersion: 0, limit: 1 })).toBe(true);
		expect(valid({ afterVersion: 2_147_483_647, limit: 1000 })).toBe(true);
	});

	test.each([
		["afterVersion", -1],
		["afterVersion", 1.5],
		["afterVersion", 2_147_483_648],
		["afterVersion", "3"],
		["limit", 0],
		["limit", 1001],
		["limit", "10"],
	])("%s=%p is rejected", (field, value) => {
		expect(valid({ [field]: value })).toBe(false);
	});
});
