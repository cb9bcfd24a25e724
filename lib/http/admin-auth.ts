/** Bearer-token check for /api/admin/*: constant-time, and no token configured means no access. */
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (text: string) => createHash("sha256").update(text).digest();

export function isAdmin(authorization: string | undefined, adminToken: string | null): boolean {
	if (!adminToken) return false;
	// the scheme is case-insensitive (RFC 7235); the token is not
	const match = /^Bearer +(.+)$/i.exec(authorization ?? "");
	// Compare fixed-length digests: timingSafeEqual needs equal lengths and must not leak them.
	return match !== null && timingSafeEqual(digest(match[1]), digest(adminToken));
}
