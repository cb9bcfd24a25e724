/**
 * Cache keys, made and cleaned in one place: `<action>:<every param as name=value, sorted, "|">`.
 * Moleculer's cacher runs before the action's validator, so the key covers every param: a call
 * with an unknown or malformed param can never be answered from an entry a valid call made
 * (it misses, is validated and refused, and a refusal is never cached). Writes clean exactly
 * the keys they stale.
 */
import type { CacherKeygen } from "moleculer/src/cachers/base";
import type { Source } from "../constants";

export const cacheKeys = {
	entity: (service: Source, id: number) => `${service}.get:id=${id}`,
	lists: (service: Source) => `${service}.list:**`,
};

/** Moleculer `keygen`: (action, the action's cache options, context). */
export const cacheKeygen: CacherKeygen = (action, _opts, ctx) => {
	const params = (ctx?.params ?? {}) as Record<string, unknown>;
	const names = Object.keys(params);
	// one parameter (`get` by id, on every cached read): nothing to sort or join
	if (names.length === 1) return `${action.name}:${keyPart(names[0], params[names[0]])}`;
	return `${action.name}:${names
		.sort()
		.map((name) => keyPart(name, params[name]))
		.join("|")}`;
};

function keyPart(name: string, value: unknown): string {
	return `${name}=${typeof value === "string" ? value : JSON.stringify(value)}`;
}
