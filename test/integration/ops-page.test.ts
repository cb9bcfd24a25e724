/**
 * The operations page over HTTP (issue 11): `GET /ops/` and `/ops` answer the one static page,
 * with a Content-Security-Policy that allows exactly its inline script and style (by hash) and
 * requests to its own origin only; it loads nothing from anywhere, has no inline event handler,
 * and keeps the admin token in sessionStorage only. It answers GET and HEAD only, as every route
 * does. What it shows in a browser is test/cluster/browser.test.ts.
 */
import { createHash } from "node:crypto";
import { expectErrorShape } from "../helpers/expect-error";
import { client } from "../helpers/http";
import { useSystem } from "../helpers/system";

const gateway = useSystem();
/** the gateway's root, not /api */
const root = client(() => gateway.system.url.replace(/\/api$/, ""));

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/** The policy's directives, by name. */
function directives(policy: string): Record<string, string> {
	return Object.fromEntries(
		policy
			.split(";")
			.map((part) => part.trim().split(/\s+/))
			.filter((words) => words[0])
			.map(([name, ...values]) => [name, values.join(" ")]),
	);
}

test("GET /ops/ and GET /ops answer the same HTML page", async () => {
	const withSlash = await root.get("/ops/");
	const without = await root.get("/ops");
	expect(withSlash.status).toBe(200);
	expect(withSlash.headers.get("content-type")).toBe("text/html; charset=utf-8");
	expect(withSlash.text).toMatch(/^<!doctype html>/);
	expect(withSlash.text).toContain("<h1>Operations</h1>");
	expect(without.status).toBe(200);
	expect(without.text).toBe(withSlash.text);
	expect(Number(withSlash.headers.get("content-length"))).toBe(Buffer.byteLength(withSlash.text));
});

test("its Content-Security-Policy allows exactly its own script and style, and requests to its own origin", async () => {
	const page = await root.get("/ops/");
	const scripts = [...page.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((match) => match[1]);
	const styles = [...page.text.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((match) => match[1]);
	expect(scripts).toHaveLength(1);
	expect(styles).toHaveLength(1);
	const csp = directives(page.headers.get("content-security-policy") ?? "");
	expect(csp).toEqual({
		"default-src": "'none'",
		"script-src": sha256(scripts[0]),
		"style-src": sha256(styles[0]),
		"connect-src": "'self'",
		"img-src": "data:",
		"base-uri": "'none'",
		"form-action": "'none'",
		"frame-ancestors": "'none'",
	});
	expect(page.headers.get("x-content-type-options")).toBe("nosniff");
	expect(page.headers.get("referrer-policy")).toBe("no-referrer");
});

test("it loads nothing from anywhere, has no inline event handler, and keeps the token in sessionStorage only", async () => {
	const { text } = await root.get("/ops/");
	// the one external reference: the icon is an empty data: URL (no /favicon.ico request)
	expect([...text.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((match) => match[1])).toEqual(["data:,", "../api/ready"]);
	expect(text).not.toMatch(/\son[a-z]+\s*=/i);
	expect(text).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
	expect(text).not.toMatch(/localStorage|document\.cookie|innerHTML|eval\(/);
	expect(text).toContain("sessionStorage.setItem(TOKEN_KEY");
});

test("GET and HEAD only: any other method is 405 with Allow, a path below it 404", async () => {
	const get = await root.get("/ops/");
	const head = await root.send("HEAD", "/ops/");
	expect(head.status).toBe(200);
	expect(head.text).toBe("");
	expect(head.headers.get("content-length")).toBe(get.headers.get("content-length"));
	expect(head.headers.get("content-security-policy")).toBe(get.headers.get("content-security-policy"));
	for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
		const res = await root.send(method, "/ops/");
		expectErrorShape(res, 405);
		expect({ method, allow: res.headers.get("allow") }).toEqual({ method, allow: "GET, HEAD" });
	}
	expectErrorShape(await root.get("/ops/anything"), 404);
	expectErrorShape(await root.get("/opsx"), 404);
});
