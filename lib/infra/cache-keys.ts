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
	const parts = Object.keys(params)
		.sort()
		.map((name) => `${name}=${typeof params[name] === "string" ? params[name] : JSON.stringify(params[name])}`);
	return `${action.name}:${parts.join("|")}`;
};
