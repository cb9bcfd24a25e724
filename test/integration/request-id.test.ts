/**
 * `X-Request-ID` on every answer (CONTRACT): the request's own when it sent a valid one, else a
 * new one — on successes, on errors the handler answers, on errors the gateway answers before
 * routing (malformed JSON, an unknown route, a method the path does not have).
 */
import { randomUUID } from "node:crypto";
import { request } from "../helpers/http";
import { useSystem } from "../helpers/system";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const gateway = useSystem();

// every row has all five values: a shorter row would make jest take the last parameter for `done`
const cases: Array<[string, string, string, unknown, { raw?: string }]> = [
	["a created client", "POST", "/clients", { name: "Rid", email: "rid@example.com" }, {}],
	["a 404", "GET", "/clients/999999", undefined, {}],
	["a 422", "POST", "/clients", { name: "" }, {}],
	["a 400 (malformed JSON)", "POST", "/clients", undefined, { raw: "{" }],
	["an unknown route", "GET", "/nowhere", undefined, {}],
	["a 405", "PATCH", "/clients/1", undefined, {}],
	["the readiness probe", "GET", "/ready", undefined, {}],
];

test.each(cases)("%s carries the client's valid X-Request-ID back", async (_what, method, path, body, init) => {
	const id = `test-${randomUUID()}`;
	const res = await request(method, `${gateway.system.url}${path}`, body, { ...init, headers: { "x-request-id": id } });
	expect(res.headers.get("x-request-id")).toBe(id);
});

test.each(cases)("%s without X-Request-ID, or with an invalid one, carries a new UUID", async (_what, method, path, body, init) => {
	for (const sent of [undefined, "not a valid id", "x".repeat(200), "<b>"]) {
		const res = await request(method, `${gateway.system.url}${path}`, body, { ...init, headers: { "x-request-id": sent } });
		const answered = res.headers.get("x-request-id") ?? "";
		expect({ sent, answered: UUID.test(answered) }).toEqual({ sent, answered: true });
	}
});
