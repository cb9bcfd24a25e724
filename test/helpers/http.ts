/**
 * Real HTTP calls to the gateway, over node:http (fetch refuses methods such as TRACE, which the
 * method tests must send). Every answer is checked for leaks (`findLeaks`): a stack, a host:port,
 * a node id or a database driver's words in any answer fails the test that asked for it.
 */
import { appendFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";

export interface Reply<T = any> {
	status: number;
	body: T;
	text: string;
	headers: Headers;
}

/** What must never appear in an answer, each with a name for the failure message. */
const LEAKS: ReadonlyArray<{ what: string; pattern: RegExp }> = [
	{ what: "a stack", pattern: /"stack"\s*:/ },
	// V8's frames: "at fn (/path/file.js:12:34)", "at /path/file.js:12:34", "at node:internal/…:1:2"
	{ what: "a stack frame", pattern: /\bat (?:\S+ \()?(?:\/|file:|node:|[A-Za-z]:\\)[^\s)]*:\d+:\d+/ },
	{ what: "a source file position", pattern: /[\w-]+\.(?:[cm]?js|ts):\d+/ },
	{ what: "a host:port", pattern: /\b(?:localhost|(?:\d{1,3}\.){3}\d{1,3}):\d{1,5}\b|\[[0-9a-f:.]+\]:\d{1,5}\b/i },
	// the default node id is `<hostname>-<pid>` (moleculer.config.ts)
	{ what: "a node id", pattern: new RegExp(`"nodeID"|\\b${os.hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-\\d+\\b`) },
	{
		what: "a database driver's message",
		pattern:
			/\bE(?:CONNREFUSED|CONNRESET|HOSTUNREACH|TIMEDOUT|PIPE|ADDRINUSE)\b|SQLITE_|Sequelize|\bpg_|\brelation\b|\bviolates\b|duplicate key|syntax error at/i,
	},
];

/** Node ids a test gave its nodes (NODEID): never in an answer either. */
const nodeIds = new Set<string>();

/** Tell the checker a node id that is not `<hostname>-<pid>`, so that answers are checked for it too. */
export function watchNodeId(nodeID: string): void {
	nodeIds.add(nodeID);
}

/** Each leak found in an answer's headers and body, named; empty when it is clean. */
export function findLeaks(text: string, headers: Headers): string[] {
	const everything = `${[...headers].map(([name, value]) => `${name}: ${value}`).join("\n")}\n\n${text}`;
	const found = LEAKS.filter(({ pattern }) => pattern.test(everything)).map(({ what, pattern }) => `${what} (${everything.match(pattern)?.[0]})`);
	for (const nodeID of nodeIds) if (everything.includes(nodeID)) found.push(`a node id (${nodeID})`);
	return found;
}

/**
 * Leaks found since the last test ended. A request that leaks throws at once, but a test may
 * swallow that (a poll that retries on errors): the hooks below fail the test all the same.
 */
const unreported: string[] = [];

function reportLeaks(): void {
	if (unreported.length === 0) return;
	const found = unreported.splice(0);
	throw new Error(`${found.length} answer(s) leaked internal detail:\n${found.join("\n\n")}`);
}

// only under jest (the bench scripts import no helper, but a script might)
if (typeof afterEach === "function") afterEach(reportLeaks);
if (typeof afterAll === "function") afterAll(reportLeaks);

/** LEAK_CHECK_LOG=<file>: one line per checked answer, to count and read what a run received. */
const ANSWER_LOG = process.env.LEAK_CHECK_LOG;

/** Files served verbatim from a package (Swagger UI's bundle): their text is not ours, only their headers are checked. */
const STATIC_FILE = /^text\/(?:css|javascript)\b/;

function checkAnswer(method: string, url: string, reply: Reply): void {
	const staticFile = reply.status === 200 && STATIC_FILE.test(reply.headers.get("content-type") ?? "");
	const leaks = findLeaks(staticFile ? "" : reply.text, reply.headers);
	if (ANSWER_LOG) appendFileSync(ANSWER_LOG, `${leaks.length === 0 ? "clean" : "LEAK"} ${reply.status} ${method} ${url}\n`);
	if (leaks.length === 0) return;
	const headers = [...reply.headers].map(([name, value]) => `  ${name}: ${value}`).join("\n");
	const message = `${method} ${url} answered ${reply.status} with ${leaks.join(", ")}:\n${headers}\n\n  ${reply.text.slice(0, 2000)}`;
	unreported.push(message);
	throw new Error(message);
}

function send(method: string, url: string, headers: Record<string, string>, payload: string | undefined): Promise<Omit<Reply, "body">> {
	return new Promise((resolve, reject) => {
		// a connection per request, as a browser's first request would be: nothing outlives a test
		const req = http.request(url, { method, headers, agent: false }, (res) => {
			const chunks: Buffer[] = [];
			res.on("data", (chunk: Buffer) => chunks.push(chunk));
			res.on("error", reject);
			res.on("end", () => {
				const received = new Headers();
				for (let i = 0; i < res.rawHeaders.length; i += 2) received.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
				resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), headers: received });
			});
		});
		req.on("error", reject);
		req.end(payload);
	});
}

export async function request<T = any>(
	method: string,
	url: string,
	body?: unknown,
	init: { raw?: string; headers?: Record<string, string | undefined> } = {},
): Promise<Reply<T>> {
	const payload = init.raw ?? (body === undefined ? undefined : JSON.stringify(body));
	// header names case-insensitively, as fetch merged them: a test's own Content-Type replaces ours
	const headers: Record<string, string> = {
		...(payload !== undefined ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) } : {}),
		// (a header given as undefined is not sent)
		...Object.fromEntries(Object.entries(init.headers ?? {}).flatMap(([name, value]) => (value === undefined ? [] : [[name.toLowerCase(), value]]))),
	};
	const answer = await send(method, url, headers, payload);
	let parsed: unknown;
	try {
		parsed = answer.text ? JSON.parse(answer.text) : undefined;
	} catch {
		parsed = undefined;
	}
	const reply: Reply<T> = { ...answer, body: parsed as T };
	checkAnswer(method, url, reply);
	return reply;
}

/** `base` may be a function, read at each call: a client made before its server has started. */
export function client(base: string | (() => string)) {
	const url = (path: string) => (typeof base === "string" ? base : base()) + path;
	return {
		get: <T = any>(path: string) => request<T>("GET", url(path)),
		post: <T = any>(path: string, body?: unknown) => request<T>("POST", url(path), body),
		put: <T = any>(path: string, body?: unknown) => request<T>("PUT", url(path), body),
		del: <T = any>(path: string) => request<T>("DELETE", url(path)),
		raw: (method: string, path: string, raw: string, headers?: Record<string, string | undefined>) => request(method, url(path), undefined, { raw, headers }),
		/** any method, no body, chosen headers (OPTIONS, HEAD, TRACE …) */
		send: (method: string, path: string, headers?: Record<string, string | undefined>) => request(method, url(path), undefined, { headers }),
	};
}
