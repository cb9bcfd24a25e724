/**
 * The admin bearer check (lib/http/admin-auth.ts) with ADMIN_TOKEN's comma list: any token of the
 * list is accepted, so a token is rotated by adding the new one, moving the callers to it, and
 * dropping the old one; nothing else is accepted, and no token at all accepts nothing.
 */
import { isAdmin, isAdminPath } from "../../lib/http/admin-auth";

const OLD = "an-admin-token-of-32-characters-old-0001";
const NEW = "an-admin-token-of-32-characters-new-0002";
const bearer = (token: string) => `Bearer ${token}`;

describe("isAdmin", () => {
	test.each([
		// configured tokens, the caller's token, accepted
		[[OLD], OLD, true],
		[[OLD], NEW, false],
		[[OLD, NEW], OLD, true],
		[[OLD, NEW], NEW, true],
		[[NEW, OLD], OLD, true],
		[[NEW], OLD, false],
		[[NEW], NEW, true],
		[[], OLD, false],
	])("given ADMIN_TOKEN %p, when a caller sends %p, then accepted is %p", (tokens, token, accepted) => {
		expect(isAdmin(bearer(token), tokens)).toBe(accepted);
	});

	test("given a list, then neither a prefix, nor the list itself, nor two tokens joined are accepted", () => {
		const tokens = [OLD, NEW];
		for (const wrong of [OLD.slice(0, -1), `${OLD},${NEW}`, `${OLD}${NEW}`, `${OLD} `, ""]) {
			expect({ wrong, accepted: isAdmin(bearer(wrong), tokens) }).toEqual({ wrong, accepted: false });
		}
	});

	test("the scheme is case-insensitive, the token is not; no header or another scheme is refused", () => {
		expect(isAdmin(`bearer ${NEW}`, [OLD, NEW])).toBe(true);
		expect(isAdmin(bearer(NEW.toUpperCase()), [OLD, NEW])).toBe(false);
		expect(isAdmin(undefined, [OLD, NEW])).toBe(false);
		expect(isAdmin(`Basic ${NEW}`, [OLD, NEW])).toBe(false);
	});

	test("the rotation's steps, for a caller that moves to the new token at step 2", () => {
		const steps: Array<{ configured: string[]; caller: string }> = [
			{ configured: [OLD], caller: OLD },
			{ configured: [OLD, NEW], caller: OLD },
			{ configured: [OLD, NEW], caller: NEW },
			{ configured: [NEW, OLD], caller: NEW },
			{ configured: [NEW], caller: NEW },
		];
		expect(steps.map((step) => isAdmin(bearer(step.caller), step.configured))).toEqual([true, true, true, true, true]);
		// and the old token is refused once dropped
		expect(isAdmin(bearer(OLD), [NEW])).toBe(false);
	});
});

describe("isAdminPath", () => {
	test.each([
		["/api/admin/dead-letters", true],
		["/api/admin/dead-letters?page=2", true],
		["/api/admin", true],
		["/api/admin?x=1", true],
		["/api/adm?in=1", false],
		["/api/clients/1", false],
		["/api/clients?next=/api/admin", false],
		["/API/admin", false],
		[undefined, false],
	])("given the request's url %p, then under /api/admin is %p (the query never counts)", (url, admin) => {
		expect(isAdminPath(url)).toBe(admin);
	});
});
