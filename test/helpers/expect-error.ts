/**
 * The contract's error shape, asserted the same way by every suite that expects a 4xx, so that
 * a stricter check made for one suite holds for all of them.
 */
import type { Reply } from "./http";

/** The only keys an error body may have. */
export const ERROR_KEYS = ["code", "data", "message", "name", "type"];
/** The only keys an entry of a validation error's `data` may have. */
export const FIELD_ERROR_KEYS = ["actual", "expected", "field", "message", "type"];

/** The status, the exact error shape, and nothing internal in the text. */
export function expectErrorShape(res: Reply, status: number): void {
	expect({ status: res.status, text: res.text }).toEqual({ status, text: expect.any(String) });
	expect(res.headers.get("content-type")).toMatch(/^application\/json/);
	expect(res.body).toEqual(expect.objectContaining({ name: expect.any(String), message: expect.any(String), type: expect.any(String) }));
	expect(res.body.code).toBe(status);
	expect(Object.keys(res.body).filter((key) => !ERROR_KEYS.includes(key))).toEqual([]);
	expect(res.text).not.toMatch(/stack/i);
	expect(res.text).not.toMatch(/nodeID/i);
	// source paths and stack frames (the first pattern in any letter case)
	expect(res.text).not.toMatch(/node_modules|\.[jt]s:\d/i);
	expect(res.text).not.toMatch(/\/work\/|\bat \S+ \(/);
	if (res.body.data !== undefined && Array.isArray(res.body.data)) {
		for (const entry of res.body.data) {
			expect(typeof entry.field).toBe("string");
			expect(typeof entry.message).toBe("string");
			expect(Object.keys(entry).filter((key) => !FIELD_ERROR_KEYS.includes(key))).toEqual([]);
		}
	}
}
