/**
 * Cache keys, made and cleaned in one place. Moleculer's cacher runs before parameter
 * validation, so an id from the URL ("5") and from the REPL (5) must give the same key:
 * `<action>:<key values as text, joined by "|">`. Writes clean exactly the keys they stale.
 */
import type { CacherKeygen } from "moleculer/src/cachers/base";
import type { Source } from "./constants";

export const cacheKeys = {
	entity: (service: Source, id: number) => `${service}.get:${id}`,
	lists: (service: Source) => `${service}.list:**`,
};

/** Moleculer `keygen`: (action, the action's cache options, context). */
export const cacheKeygen: CacherKeygen = (action, opts, ctx) => {
	const params = (ctx?.params ?? {}) as Record<string, unknown>;
	const keys = opts?.keys ?? Object.keys(params).sort();
	return `${action.name}:${keys.map((key) => (params[key] === undefined ? "" : String(params[key]))).join("|")}`;
};
