/**
 * lib/http/method-gate: which requests reach a route and how the gateway answers the others,
 * decided from the method, the CORS headers, the path's route methods and CORS_ORIGINS alone.
 */
import { allowedMethods, CORS_ALLOWED_HEADERS, decide } from "../../lib/http/method-gate";

const APP = "https://app.example.com";
const NO_CORS = new Set<string>();
const CORS = new Set([APP]);
const CLIENT_BY_ID = ["GET", "PUT", "DELETE"];

describe("allowedMethods", () => {
	test("HEAD wherever GET is, in a fixed order", () => {
		expect(allowedMethods(["DELETE", "PUT", "GET"])).toEqual(["GET", "HEAD", "PUT", "DELETE"]);
		expect(allowedMethods(["POST"])).toEqual(["POST"]);
		expect(allowedMethods([])).toEqual([]);
	});
});

describe("OPTIONS never reaches a route", () => {
	test.each([
		["plain", {}],
		["a preflight without CORS_ORIGINS", { origin: APP, requestMethod: "DELETE" }],
		["a preflight without an Origin", { requestMethod: "DELETE" }],
	])("%s: 405 with the path's methods", (_what, headers) => {
		expect(decide({ method: "OPTIONS", ...headers }, CLIENT_BY_ID, NO_CORS)).toEqual({
			kind: "not-allowed",
			allow: ["GET", "HEAD", "PUT", "DELETE"],
			headers: {},
		});
	});

	test("a preflight from an origin not in CORS_ORIGINS: 405, no CORS header", () => {
		const decision = decide({ method: "OPTIONS", origin: "https://evil.example.net", requestMethod: "DELETE" }, CLIENT_BY_ID, CORS);
		expect(decision).toEqual({ kind: "not-allowed", allow: ["GET", "HEAD", "PUT", "DELETE"], headers: { Vary: "Origin" } });
	});

	test("an allowed origin's preflight for a method the path has: 204 headers", () => {
		expect(decide({ method: "OPTIONS", origin: APP, requestMethod: "delete" }, CLIENT_BY_ID, CORS)).toEqual({
			kind: "preflight",
			headers: {
				Vary: "Origin",
				"Access-Control-Allow-Origin": APP,
				"Access-Control-Allow-Methods": "GET, HEAD, PUT, DELETE",
				"Access-Control-Allow-Headers": CORS_ALLOWED_HEADERS.join(", "),
				"Access-Control-Max-Age": "600",
			},
		});
		expect(CORS_ALLOWED_HEADERS).toEqual(["Content-Type", "Authorization", "X-Request-ID", "Idempotency-Key"]);
	});

	test("an allowed origin's preflight for a method the path lacks: 405", () => {
		expect(decide({ method: "OPTIONS", origin: APP, requestMethod: "PATCH" }, CLIENT_BY_ID, CORS)).toMatchObject({ kind: "not-allowed" });
	});

	test("an origin is matched exactly: no prefix, no other scheme or port", () => {
		for (const origin of ["https://app.example.com.evil.net", "http://app.example.com", "https://app.example.com:8443", "null"]) {
			expect(decide({ method: "OPTIONS", origin, requestMethod: "GET" }, CLIENT_BY_ID, CORS).kind).toBe("not-allowed");
		}
	});

	test("on a path no route has: 404", () => {
		expect(decide({ method: "OPTIONS", origin: APP, requestMethod: "GET" }, [], CORS).kind).toBe("not-found");
	});
});

describe("other methods", () => {
	test("the path's own methods, and HEAD on a GET path, go to the route", () => {
		for (const method of ["GET", "HEAD", "PUT", "DELETE"]) expect(decide({ method }, CLIENT_BY_ID, NO_CORS)).toEqual({ kind: "route", headers: {} });
	});

	test("any other method is 405 with Allow", () => {
		for (const method of ["PATCH", "TRACE", "POST", "PROPFIND"]) {
			expect(decide({ method }, CLIENT_BY_ID, NO_CORS)).toEqual({ kind: "not-allowed", allow: ["GET", "HEAD", "PUT", "DELETE"], headers: {} });
		}
		expect(decide({ method: "HEAD" }, ["POST"], NO_CORS)).toMatchObject({ kind: "not-allowed", allow: ["POST"] });
	});

	test("an unknown path is left to the router (its 404)", () => {
		expect(decide({ method: "PATCH" }, [], NO_CORS)).toEqual({ kind: "route", headers: {} });
	});

	test("an allowed origin's request gets Allow-Origin and the exposed headers; another origin's only Vary", () => {
		expect(decide({ method: "GET", origin: APP }, CLIENT_BY_ID, CORS).headers).toEqual({
			Vary: "Origin",
			"Access-Control-Allow-Origin": APP,
			"Access-Control-Expose-Headers": "X-Request-ID, Location",
		});
		expect(decide({ method: "GET", origin: "https://evil.example.net" }, CLIENT_BY_ID, CORS).headers).toEqual({ Vary: "Origin" });
		expect(decide({ method: "GET", origin: APP }, CLIENT_BY_ID, NO_CORS).headers).toEqual({});
	});
});
