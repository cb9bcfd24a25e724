/**
 * The pure parts of "at most once per request": which key a write is deduplicated by, and what
 * a repeat gets.
 */
import { decideRepeat, paramsHash, requestKeyOf } from "../../lib/event-log/request-keys";
import { scopedIdempotencyKey } from "../../lib/http/idempotency-key";

describe("requestKeyOf", () => {
	const params = { clientId: 1, goalName: "House", targetAmount: 10 };

	test("given a client's Idempotency-Key, then it is the key, in a cluster or not", () => {
		for (const clustered of [true, false]) {
			expect(requestKeyOf({ idempotencyKey: "POST /api/goals k1", requestId: "r1", params, clustered })).toEqual({
				key: "client:POST /api/goals k1",
				paramsHash: paramsHash(params),
			});
		}
	});

	test("given no Idempotency-Key in a cluster, then the request id is the key (a redelivered request keeps it)", () => {
		expect(requestKeyOf({ requestId: "r1", params, clustered: true })?.key).toBe("request:r1");
	});

	test("given no Idempotency-Key in one process, then there is no key (nothing redelivers a request)", () => {
		expect(requestKeyOf({ requestId: "r1", params, clustered: false })).toBeNull();
	});
});

describe("paramsHash", () => {
	test("given the same params in another key order, then the hash is the same", () => {
		expect(paramsHash({ a: 1, b: { c: [1, 2], d: "x" } })).toBe(paramsHash({ b: { d: "x", c: [1, 2] }, a: 1 }));
	});

	test("given other values, then the hash differs", () => {
		expect(paramsHash({ targetAmount: 10 })).not.toBe(paramsHash({ targetAmount: 10.01 }));
		expect(paramsHash({ list: [1, 2] })).not.toBe(paramsHash({ list: [2, 1] }));
	});
});

describe("decideRepeat", () => {
	const stored = { paramsHash: paramsHash({ name: "Ann" }), result: { id: 7, name: "Ann" } };

	test("given a repeat with the same params, then it gets the first answer", () => {
		expect(decideRepeat(stored, { key: "client:k", paramsHash: paramsHash({ name: "Ann" }) })).toEqual({
			kind: "replay",
			result: { id: 7, name: "Ann" },
		});
	});

	test("given the same key with other params, then the key is reused (a 422)", () => {
		expect(decideRepeat(stored, { key: "client:k", paramsHash: paramsHash({ name: "Bob" }) })).toEqual({ kind: "keyReused" });
	});
});

describe("scopedIdempotencyKey (the header, at the gateway)", () => {
	test("given a write with a key, then the key is scoped to its method and path", () => {
		expect(scopedIdempotencyKey("POST", "/api/goals", "k-1")).toBe("POST /api/goals k-1");
		expect(scopedIdempotencyKey("DELETE", "/api/goals/3", "k-1")).toBe("DELETE /api/goals/3 k-1");
	});

	test("given no header, or a read, then there is no key", () => {
		expect(scopedIdempotencyKey("POST", "/api/goals", undefined)).toBeUndefined();
		expect(scopedIdempotencyKey("GET", "/api/goals", "k-1")).toBeUndefined();
	});

	test.each([
		["", "empty"],
		[" ", "blank"],
		["x".repeat(101), "101 characters"],
		["caf\u00e9", "not ASCII"],
		["a\tb", "a control character"],
	])("given %j (%s), then it is a 422 naming the header", (header) => {
		expect(() => scopedIdempotencyKey("POST", "/api/goals", header)).toThrow(
			expect.objectContaining({ code: 422, data: [expect.objectContaining({ field: "Idempotency-Key" })] }),
		);
	});
});
