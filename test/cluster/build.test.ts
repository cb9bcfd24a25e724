/**
 * What the image runs, run here: `npm run build` in a fresh copy of the repository, then the
 * compiled program (`node dist/bin/start.js`, no tsx) with only the production dependencies in
 * node_modules, as the Dockerfile's runtime stage has them, and its healthcheck
 * (`node dist/bin/healthcheck.js`): an api node through GET /api/health, a node without HTTP
 * through its heartbeat file. The gateway's static files (web/, the operations page) are copied
 * into dist/web by the build and served from there: the sources' web/ is removed once built.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freshCopy, ROOT } from "../helpers/fresh-copy";
import { client } from "../helpers/http";
import { deleteQueues, describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { CONFIG_VARIABLES, freePort } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(60_000);

const run = promisify(execFile);

let dir = "";
let dataDir = "";
/** the operations page's files (web/, served by the gateway), and their sources' text at build time */
const PAGE_FILES = ["ops/index.html", "ops/ops.js", "ops/ops.css"];
const builtFromSources = new Map<string, string>();
const children: ChildProcess[] = [];

/** The environment of a container: nothing of ours that configures the app, plus `env`. */
function nodeEnv(env: Record<string, string>): NodeJS.ProcessEnv {
	const clean: NodeJS.ProcessEnv = { ...process.env };
	for (const name of CONFIG_VARIABLES) delete clean[name];
	delete clean.NODE_ENV;
	return { ...clean, NODE_ENV: "production", LOG_LEVEL: "warn", ...env };
}

/**
 * node_modules with the production dependencies only (`npm prune --omit=dev` in the image):
 * each top-level package `npm ls --omit=dev` lists, linked from the real node_modules.
 */
function productionNodeModules(target: string): number {
	// npm ls exits non-zero on a mere peer warning; its list is what matters
	let listed: string;
	try {
		listed = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], { cwd: ROOT, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
	} catch (err) {
		listed = (err as { stdout?: string }).stdout ?? "";
	}
	const top = path.join(ROOT, "node_modules") + path.sep;
	const packages = new Set<string>();
	for (const line of listed.split("\n")) {
		if (!line.startsWith(top)) continue;
		const parts = line.slice(top.length).split(path.sep);
		const name = parts[0].startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
		if (parts[name.startsWith("@") ? 2 : 1] === undefined) packages.add(name); // top level only
	}
	fs.rmSync(target, { recursive: true, force: true });
	for (const name of packages) {
		fs.mkdirSync(path.dirname(path.join(target, name)), { recursive: true });
		fs.symlinkSync(path.join(top, name), path.join(target, name), "dir");
	}
	return packages.size;
}

function start(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | string> } {
	const child = spawn(process.execPath, ["dist/bin/start.js"], { cwd: dir, env: nodeEnv(env), stdio: ["ignore", "pipe", "pipe"] });
	children.push(child);
	let output = "";
	child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
	child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
	const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? String(signal))));
	return { child, output: () => output, exited };
}

/** `node dist/bin/healthcheck.js` with a node's environment: its exit code and its one line. */
async function healthcheck(env: Record<string, string>): Promise<{ code: number; line: string }> {
	try {
		const { stdout } = await run(process.execPath, ["dist/bin/healthcheck.js"], { cwd: dir, env: nodeEnv(env), timeout: 10_000 });
		return { code: 0, line: stdout.trim() };
	} catch (err) {
		const failed = err as { code?: number; stdout?: string };
		return { code: typeof failed.code === "number" ? failed.code : -1, line: (failed.stdout ?? "").trim() };
	}
}

beforeAll(async () => {
	dir = freshCopy("cg-build-");
	dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cg-build-data-"));
	await run("npm", ["run", "build"], { cwd: dir, timeout: 50_000 });
	// what the build copied is checked before the sources go (the first test)
	for (const file of PAGE_FILES) builtFromSources.set(file, fs.readFileSync(path.join(dir, "web", file), "utf8"));
	// from here on, what the runtime stage has: dist and production node_modules, no sources
	fs.rmSync(path.join(dir, "web"), { recursive: true });
	fs.unlinkSync(path.join(dir, "node_modules"));
	expect(productionNodeModules(path.join(dir, "node_modules"))).toBeGreaterThan(10);
}, 60_000);

afterAll(async () => {
	for (const child of children) {
		if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
	}
	if (dir) fs.rmSync(dir, { recursive: true, force: true });
	if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

test("npm run build compiles the program into dist/ and copies the gateway's static files into dist/web/: no TypeScript, no tests, no benchmarks", () => {
	const files = (fs.readdirSync(path.join(dir, "dist"), { recursive: true }) as string[]).map((file) => file.split(path.sep).join("/"));
	expect(files).toEqual(expect.arrayContaining(["bin/start.js", "bin/node.js", "bin/healthcheck.js", "moleculer.config.js"]));
	// the operations page, as it is in web/
	expect(files.filter((file) => file.startsWith("web/") && fs.statSync(path.join(dir, "dist", file)).isFile()).sort()).toEqual(
		PAGE_FILES.map((file) => `web/${file}`).sort(),
	);
	for (const file of PAGE_FILES)
		expect({ file, text: fs.readFileSync(path.join(dir, "dist", "web", file), "utf8") }).toEqual({ file, text: builtFromSources.get(file) });
	expect(files.filter((file) => /\.ts$/.test(file) && !file.endsWith(".d.ts"))).toEqual([]);
	expect(files.filter((file) => /^(test|bench)\//.test(file))).toEqual([]);
	// devDependencies are really gone: the runtime would fail if the program needed one
	expect(fs.existsSync(path.join(dir, "node_modules", "jest"))).toBe(false);
	expect(fs.existsSync(path.join(dir, "node_modules", "moleculer"))).toBe(true);
});

test("another team's import, moleculer-clients-goals/neighbour (package.json exports), resolves to the compiled lib/neighbour.js", async () => {
	const script =
		"const n = require('moleculer-clients-goals/neighbour'); console.log(JSON.stringify({ events: n.EVENT_NAMES, protection: typeof n.packetProtection('x'.repeat(32)).transporterSend }))";
	// a package resolves its own name through its exports (Node's self-reference), as a dependent's require does
	const { stdout } = await run(process.execPath, ["-e", script], { cwd: dir, timeout: 10_000 });
	expect(JSON.parse(stdout)).toEqual({
		events: ["client.created", "client.updated", "client.deleted", "goal.created", "goal.updated", "goal.deleted"],
		protection: "function",
	});
});

test("node dist/bin/start.js runs the whole system: /api/health answers, a client and its goal are created, /ops/ is served from dist/web; the healthcheck follows the node", async () => {
	const port = await freePort();
	const env = {
		PORT: String(port),
		CLIENTS_DB_URI: `sqlite:${path.join(dataDir, "clients.sqlite")}`,
		GOALS_DB_URI: `sqlite:${path.join(dataDir, "goals.sqlite")}`,
	};
	const node = start(env);
	const api = client(`http://127.0.0.1:${port}/api`);
	await waitFor(
		async () => {
			if (node.child.exitCode !== null) throw new Error(`exited:\n${node.output()}`);
			return (await api.get("/health").catch(() => null))?.status === 200;
		},
		{ timeoutMs: 30_000, intervalMs: 100, what: `GET /api/health of node dist/bin/start.js\n${node.output()}` },
	);
	expect((await api.get("/health")).body).toEqual({ status: "UP" });

	const created = await waitFor(
		async () => {
			const res = await api.post("/clients", { name: "Compiled", email: "compiled@example.com" });
			return res.status === 201 ? res.body : false; // 503 until clients has registered
		},
		{ timeoutMs: 10_000, intervalMs: 100, what: "POST /api/clients" },
	);
	const goal = await api.post("/goals", { clientId: created.id, goalName: "Boat", targetAmount: 99.99 });
	expect(goal.status).toBe(201);
	expect(goal.body).toMatchObject({ clientId: created.id, clientName: "Compiled", targetAmount: 99.99 });

	expect(await healthcheck(env)).toEqual({ code: 0, line: `healthy: GET http://127.0.0.1:${port}/api/health answered 200` });

	// the operations page and its files, from dist/web (there is no web/ beside dist/ here, as in the image)
	const gateway = client(`http://127.0.0.1:${port}`);
	for (const [url, file] of [
		["/ops/", "ops/index.html"],
		["/ops/ops.js", "ops/ops.js"],
		["/ops/ops.css", "ops/ops.css"],
	]) {
		const res = await gateway.get(url);
		expect({ url, status: res.status, text: res.text }).toEqual({ url, status: 200, text: fs.readFileSync(path.join(dir, "dist", "web", file), "utf8") });
	}

	node.child.kill("SIGTERM");
	expect(await node.exited).toBe(0);
	expect(await healthcheck(env)).toEqual({ code: 1, line: expect.stringMatching(/^unhealthy: fetch failed: ECONNREFUSED/) });
});

describeWithInfra(["rabbitmq"], "a node without HTTP (SERVICES=clients over RabbitMQ)", () => {
	const namespace = uniqueName("build");

	afterAll(() => deleteQueues(`MOL-${namespace}`));

	test("is healthy while its heartbeat file is fresh, unhealthy when it ages or the node stops", async () => {
		const heartbeatFile = path.join(dataDir, "heartbeat");
		const env = {
			SERVICES: "clients",
			TRANSPORTER: INFRA_URLS.rabbitmq,
			NAMESPACE: namespace,
			CLIENTS_DB_URI: `sqlite:${path.join(dataDir, "clients-only.sqlite")}`,
			HEARTBEAT_FILE: heartbeatFile,
			// no relay to the shared broker's global stream queues (test/helpers/node-process.ts, withoutSharedStream)
			EVENT_STREAM: "off",
		};
		const leftover = "left by an earlier life\n";
		fs.writeFileSync(heartbeatFile, leftover);
		const node = start(env);
		// the node removes the leftover at once and writes its own (an ISO time) once its broker has started
		await waitFor(
			() => {
				if (node.child.exitCode !== null) throw new Error(`exited:\n${node.output()}`);
				const beat = fs.existsSync(heartbeatFile) ? fs.readFileSync(heartbeatFile, "utf8") : leftover;
				return beat !== leftover && /^\d{4}-\d\d-\d\dT[\d:.]+Z\n$/.test(beat);
			},
			{ timeoutMs: 30_000, intervalMs: 100, what: `the node's first heartbeat\n${node.output()}` },
		);
		expect((await healthcheck(env)).code).toBe(0);
		expect((await healthcheck(env)).line).toMatch(/^healthy: heartbeat \d+ s old$/);

		// a stuck node stops beating: aged by hand, the file is unhealthy until the next beat (≤ 5 s);
		// aged again if a beat lands between the ageing and the check
		const aged = await waitFor(
			async () => {
				const old = new Date(Date.now() - 60_000);
				fs.utimesSync(heartbeatFile, old, old);
				const result = await healthcheck(env);
				return result.code !== 0 ? result : false;
			},
			{ timeoutMs: 15_000, intervalMs: 0, what: "an unhealthy answer for an aged heartbeat" },
		);
		expect(aged).toEqual({ code: 1, line: expect.stringMatching(/^unhealthy: heartbeat is \d+ s old \(limit 30 s\)$/) });
		await waitFor(async () => (await healthcheck(env)).code === 0, { timeoutMs: 15_000, intervalMs: 250, what: "the next beat" });

		node.child.kill("SIGTERM");
		expect(await node.exited).toBe(0);
		expect(fs.existsSync(heartbeatFile)).toBe(false);
		expect(await healthcheck(env)).toEqual({ code: 1, line: `unhealthy: no heartbeat file at ${heartbeatFile}` });
	});
});
