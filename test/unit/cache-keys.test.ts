/**
 * lib/infra/cache-keys: Moleculer's cacher runs before validation, so the key must not depend on how a
 * value was typed ("5" from a URL, 5 from the REPL), must cover every param, and must be exactly
 * the key a write cleans.
 */
import type { Context, Service } from "moleculer";
import { cacheKeygen, cacheKeys } from "../../lib/infra/cache-keys";

type KeygenArgs = Parameters<typeof cacheKeygen>;

function keyOf(action: string, params: Record<string, unknown> | undefined, keys?: string[]): string {
	return cacheKeygen({ name: action } as KeygenArgs[0], (keys ? { keys } : {}) as Service.ActionCacheOptions, { params } as Context<unknown>);
}

test('an id from the URL ("5") and from the REPL (5) give the same key', () => {
	const fromUrl = keyOf("clients.get", { id: "5" }, ["id"]);
	const fromRepl = keyOf("clients.get", { id: 5 }, ["id"]);
	expect(fromUrl).toBe(fromRepl);
	expect(fromUrl).toBe("clients.get:id=5");
});

test("the entity key a write cleans is the key a read was cached under", () => {
	expect(cacheKeys.entity("clients", 5)).toBe(keyOf("clients.get", { id: "5" }));
	expect(cacheKeys.entity("clients", 5)).toBe(keyOf("clients.get", { id: 5 }));
	expect(cacheKeys.entity("goals", 7)).toBe(keyOf("goals.get", { id: 7 }));
});

test("every param counts, sorted by name, whatever order it came in", () => {
	expect(keyOf("goals.list", { pageSize: 10, clientId: "3", page: 1 })).toBe("goals.list:clientId=3|page=1|pageSize=10");
	expect(keyOf("goals.list", { page: 1, clientId: 3, pageSize: 10 })).toBe("goals.list:clientId=3|page=1|pageSize=10");
});

test("an unknown or malformed param gives a key of its own: never answered from a valid call's entry", () => {
	const valid = keyOf("clients.get", { id: 5 });
	expect(keyOf("clients.get", { id: 5, extra: 1 })).not.toBe(valid);
	expect(keyOf("clients.get", { id: [5] })).not.toBe(valid);
	expect(keyOf("clients.get", { id: { n: 5 } })).not.toBe(valid);
	expect(keyOf("clients.get", { id: null })).not.toBe(keyOf("clients.get", {}));
});

test("the cache options' declared keys do not narrow the key", () => {
	expect(keyOf("clients.list", { page: 2, pageSize: 25, sort: "x" }, ["page", "pageSize"])).toBe("clients.list:page=2|pageSize=25|sort=x");
});

test("every list key of a service matches the pattern its writes clean, and no other service's", () => {
	const pattern = cacheKeys.lists("clients");
	expect(pattern).toBe("clients.list:**");
	const prefix = pattern.slice(0, -"**".length);
	expect(keyOf("clients.list", { page: 3 }).startsWith(prefix)).toBe(true);
	expect(keyOf("clients.list", {}).startsWith(prefix)).toBe(true);
	expect(keyOf("goals.list", { page: 3 }).startsWith(prefix)).toBe(false);
});

test("a call without params still gets a key", () => {
	expect(keyOf("clients.list", undefined)).toBe("clients.list:");
});
