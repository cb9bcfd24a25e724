/**
 * The gateway's first step (lib/http/request-gate.ts) where it has nothing to count: without a
 * rate limit, a request outside /api/admin is let through at once, with no promise to wait for
 * (every request of such an API takes this path); one under /api/admin is checked.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { MemoryWindowStore } from "../../lib/http/rate-limit";
import { RequestGate } from "../../lib/http/request-gate";

const request = (url: string, authorization?: string) =>
	({ url, method: "GET", headers: authorization ? { authorization } : {}, socket: { remoteAddress: "127.0.0.1" } }) as unknown as IncomingMessage;
const response = () => ({ setHeader: () => undefined }) as unknown as ServerResponse;
const TOKEN = "an-admin-token-of-32-characters-0001";

describe("RequestGate.check without a rate limit", () => {
	const gate = new RequestGate({ rateLimit: 0, trustProxy: 0, adminTokens: [TOKEN] }, new MemoryWindowStore(60_000));

	test("given a request outside /api/admin, then it passes at once (nothing returned to wait for)", () => {
		expect(gate.check(request("/api/clients/1"), response())).toBeUndefined();
	});

	test("given a request under /api/admin without the token, then it is refused (401)", async () => {
		await expect(gate.check(request("/api/admin/consumers"), response())).rejects.toMatchObject({ code: 401 });
	});

	test("given a request under /api/admin with the token, then it passes after the check", async () => {
		await expect(gate.check(request("/api/admin/consumers", `Bearer ${TOKEN}`), response())).resolves.toBeUndefined();
	});
});
