/**
 * Bearer-token check for /api/admin/*: constant-time, and no token configured means no access.
 * ADMIN_TOKEN may hold a comma list, any of whose tokens is accepted, so that a token is rotated
 * without a moment when neither the old nor the new one works (the new one added, the callers
 * moved to it, the old one dropped).
 * The gateway's first step (lib/http/request-gate.ts) makes it for every request under
 * ADMIN_PATH before the request is routed or its body read, and limits failed attempts per
 * client IP; the admin route checks it again before calling an action.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** moleculer-web route of the admin API. */
export const ADMIN_PATH = "/api/admin";

/** ADMIN_TOKEN shorter than this is refused at start: a token is guessed by trying. */
export const ADMIN_TOKEN_MIN_LENGTH = 32;

/** Failed admin attempts a client IP may make in one window (RATE_WINDOW_MS); beyond it every admin call is 429. */
export const ADMIN_FAILURES_PER_WINDOW = 10;

const digest = (text: string) => createHash("sha256").update(text).digest();

/** The token an Authorization header presents (`Bearer <token>`), or null. */
export function bearerToken(authorization: string | undefined): string | null {
	// the scheme is case-insensitive (RFC 7235); the token is not
	const match = /^Bearer +(.+)$/i.exec(authorization ?? "");
	return match === null ? null : match[1];
}

export function isAdmin(authorization: string | undefined, adminTokens: readonly string[]): boolean {
	if (adminTokens.length === 0) return false;
	const token = bearerToken(authorization);
	if (token === null) return false;
	// Compare fixed-length digests: timingSafeEqual needs equal lengths and must not leak them.
	// Every token is compared, so the time taken does not tell which one matched.
	const given = digest(token);
	let accepted = false;
	for (const token of adminTokens) accepted = timingSafeEqual(given, digest(token)) || accepted;
	return accepted;
}

/**
 * Whether a raw request URL (`req.url`, query included) is one the admin route would take:
 * moleculer-web matches a route by plain prefix, so `/api/adminx` is taken too (and answered
 * 404 there, after its body was parsed): the token guards all of it.
 */
export function isAdminPath(url: string | undefined): boolean {
	// the same as the path's (before any `?`): ADMIN_PATH holds no `?`
	return (url ?? "").startsWith(ADMIN_PATH);
}

/**
 * Who did an admin change, as the record of it says (a dead letter's edit, a consumer's pause):
 * `token-` and 12 hex digits of a hash of the admin token. The same token is always the same id,
 * a rotated one another; the id tells nothing of the token itself.
 */
export function adminTokenId(adminToken: string): string {
	return `token-${digest(`cg-admin-token-id:${adminToken}`).toString("hex").slice(0, 12)}`;
}
