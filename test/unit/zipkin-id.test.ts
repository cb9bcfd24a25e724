/**
 * Trace and span ids as Zipkin and Jaeger take them (16 hex digits), whatever the request id:
 * Moleculer's UUIDs keep their digits, a client's own X-Request-ID that is not hex is hashed.
 */
import { zipkinId } from "../../lib/infra/zipkin-exporter";

test("given a Moleculer UUID, then its first 16 hex digits, as Moleculer's exporter sends them", () => {
	expect(zipkinId("3F2504E0-4F89-11D3-9A0C-0305E82C3301")).toBe("3f2504e04f8911d3");
});

test.each(["order-42.retry", "trace.check-a1b2", "x", "not-hex-but-long-enough-0123456789"])(
	"given the request id %p, then 16 hex digits, always the same for it",
	(requestId) => {
		expect(zipkinId(requestId)).toMatch(/^[0-9a-f]{16}$/);
		expect(zipkinId(requestId)).toBe(zipkinId(requestId));
	},
);

test("given two request ids, then two trace ids", () => {
	expect(zipkinId("order-42.retry")).not.toBe(zipkinId("order-43.retry"));
});

test.each([null, undefined, ""])("given no id (%p), then none", (id) => {
	expect(zipkinId(id)).toBeNull();
});
