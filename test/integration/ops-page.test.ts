/**
 * The operations page over HTTP (issues 11 and 22): `GET /ops/` answers the file
 * web/ops/index.html, and its script and style are the files beside it, served as they are by
 * moleculer-web's static server, with a Content-Security-Policy that lets the page run scripts and
 * styles from its own origin only (no inline script or style) and fetch from its own origin only;
 * it loads nothing from anywhere else, has no inline event handler, and keeps the admin token in
 * sessionStorage only. GET and HEAD only. What it shows in a browser is
 * test/cluster/browser.test.ts; that the build carries the files, test/cluster/build.test.ts.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { expectErrorShape } from "../helpers/expect-error";
import { client } from "../helpers/http";
import { useSystem } from "../helpers/system";

const gateway = useSystem();
/** the gateway's root, not /api */
const root = client(() => gateway.system.url.replace(/\/api$/, ""));

const PAGE_DIR = path.resolve(__dirname, "../../web/ops");
const file = (name: string) => readFileSync(path.join(PAGE_DIR, name), "utf8");

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

test("GET /ops/ answers web/ops/index.html as it is; /ops is redirected to /ops/", async () => {
	const page = await root.get("/ops/");
	expect(page.status).toBe(200);
	expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
	expect(page.text).toBe(file("index.html"));
	expect(page.text).toMatch(/^<!doctype html>/);
	expect(page.text).toContain("<h1>Operations</h1>");
	expect(Number(page.headers.get("content-length"))).toBe(Buffer.byteLength(page.text));

	// without the slash, the page's relative URLs (ops.js, ../api/ready) would miss: redirected
	const without = await root.get("/ops");
	expect(without.status).toBe(301);
	expect(without.headers.get("location")).toBe("/ops/");
});

test("its script and style are the files beside it, each with its type", async () => {
	for (const [name, type] of [
		["ops.js", "text/javascript; charset=utf-8"],
		["ops.css", "text/css; charset=utf-8"],
	]) {
		const res = await root.get(`/ops/${name}`);
		expect({ name, status: res.status, type: res.headers.get("content-type") }).toEqual({ name, status: 200, type });
		expect(res.text).toBe(file(name));
	}
});

test("every file has a Content-Security-Policy with scripts, styles and requests from its own origin only, nothing inline", async () => {
	for (const name of ["", "ops.js", "ops.css"]) {
		const res = await root.get(`/ops/${name}`);
		const csp = directives(res.headers.get("content-security-policy") ?? "");
		expect({ name, csp }).toEqual({
			name,
			csp: {
				"default-src": "'none'",
				"script-src": "'self'",
				"style-src": "'self'",
				"connect-src": "'self'",
				"img-src": "data:",
				"base-uri": "'none'",
				"form-action": "'none'",
				"frame-ancestors": "'none'",
			},
		});
		expect(res.headers.get("x-content-type-options")).toBe("nosniff");
		expect(res.headers.get("referrer-policy")).toBe("no-referrer");
		expect(res.headers.get("cache-control")).toBe("no-cache");
	}
});

test("the page loads its own two files and nothing else, has no inline script, style or event handler; the token is kept in sessionStorage only", async () => {
	const { text } = await root.get("/ops/");
	// the icon is an empty data: URL (no /favicon.ico request); ../api/ready is the <noscript> link
	expect([...text.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((match) => match[1])).toEqual(["data:,", "ops.css", "ops.js", "../api/ready"]);
	// the one script element is the module ops.js, with no body; no style element, no style attribute
	expect([...text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].map((match) => [match[1].trim(), match[2]])).toEqual([
		['type="module" src="ops.js"', ""],
	]);
	expect(text).not.toMatch(/<style\b|\sstyle\s*=/i);
	expect(text).not.toMatch(/\son[a-z]+\s*=/i);
	expect(text).not.toMatch(/https?:\/\//);

	// its code, without the comments (which say what it never does)
	const script = (await root.get("/ops/ops.js")).text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
	expect(script).toContain("function refresh()");
	expect(script).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
	expect(script).not.toMatch(/localStorage|document\.cookie|innerHTML|eval\(|new Function/);
	expect(script).toContain("sessionStorage.setItem(TOKEN_KEY");
});

test("GET and HEAD only: HEAD has GET's headers and no body; any other method, a path that is no file, or one outside web/ is the gateway's 404", async () => {
	const get = await root.get("/ops/");
	const head = await root.send("HEAD", "/ops/");
	expect(head.status).toBe(200);
	expect(head.text).toBe("");
	for (const name of ["content-length", "content-type", "content-security-policy", "etag"]) {
		expect({ name, value: head.headers.get(name) }).toEqual({ name, value: get.headers.get(name) });
	}
	for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
		for (const page of ["/ops/", "/ops/ops.js"]) {
			const res = await root.send(method, page);
			expect({ method, page, status: res.status }).toEqual({ method, page, status: 404 });
			expectErrorShape(res, 404);
		}
	}
	for (const missing of [
		"/ops/anything",
		"/opsx",
		"/ops/.hidden",
		"/ops/%2e%2e/%2e%2e/package.json",
		"/ops/../../package.json",
		"/",
		"/index.html",
		// under a route's prefix: the static files are found by the whole URL, never by what a route left of it
		"/api/ops/",
		"/api/ops/ops.js",
		"/api/docs/ops/",
	]) {
		const res = await root.get(missing);
		expect({ missing, status: res.status }).toEqual({ missing, status: 404 });
		expectErrorShape(res, 404);
	}
});
