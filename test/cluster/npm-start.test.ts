/**
 * CONTRACT.md "Starting it", done the way a user does it: a fresh copy of the repository (the
 * files git would give a clone, plus untracked files not ignored), node_modules linked in so
 * nothing is reinstalled, `npm start` / `npm run repl` as real OS processes with nothing set but
 * PORT, stopped the way a terminal stops them.
 *
 * What a terminal does on Ctrl-C: SIGINT to every process of the foreground process group
 * (npm, the `sh -c` npm runs the script in, and the node process running bin/run-compiled.js, which
 * runs the compiled program in itself).
 * Each child here is started in its own process group so the test can do exactly that.
 * Signalling npm alone is not Ctrl-C: npm forwards SIGINT to `sh`, and dash (Debian's /bin/sh)
 * catches it and waits for its child, so the app never hears of it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { freshCopy } from "../helpers/fresh-copy";
import { client } from "../helpers/http";
import { CONFIG_VARIABLES, freePort } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

const START_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 15_000;

interface Exit {
	code: number | null;
	signal: NodeJS.Signals | null;
}

interface Run {
	name: string;
	child: ChildProcess;
	/** the child's process group: the child and everything it started */
	pgid: number;
	stdout(): string;
	/** stdout and stderr as they came */
	output(): string;
	exit: Exit | null;
	exited: Promise<Exit>;
}

const runs: Run[] = [];
let dir = "";

/** The environment of a user's shell: ours without the app's configuration variables, plus PORT. */
function userEnv(port: number): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = { ...process.env };
	for (const name of CONFIG_VARIABLES) delete env[name];
	delete env.NODE_ENV; // jest sets "test"
	return { ...env, PORT: String(port) };
}

function start(name: string, command: string, args: string[], port: number, stdin: "pipe" | "ignore" = "ignore"): Run {
	const child = spawn(command, args, {
		cwd: dir,
		env: userEnv(port),
		detached: true, // its own process group, like a job in a terminal
		stdio: [stdin, "pipe", "pipe"],
	});
	let stdout = "";
	let output = "";
	child.stdout?.on("data", (chunk: Buffer) => {
		stdout += chunk.toString();
		output += chunk.toString();
	});
	child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
	const run: Run = {
		name,
		child,
		pgid: child.pid as number,
		stdout: () => stripAnsi(stdout),
		output: () => stripAnsi(output),
		exit: null,
		exited: new Promise<Exit>((resolve) => {
			child.once("exit", (code, signal) => {
				run.exit = { code, signal };
				resolve(run.exit);
			});
			child.once("error", (err) => {
				output += `\n[spawn error] ${err.message}\n`;
				run.exit = { code: -1, signal: null };
				resolve(run.exit);
			});
		}),
	};
	runs.push(run);
	return run;
}

function stripAnsi(text: string): string {
	// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the terminal's colour codes, which is what is removed
	return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

/**
 * Live processes of a process group. Zombies do not count: they have exited and only wait to be
 * reaped, which an orphan's new parent may never do in a container.
 */
function groupMembers(pgid: number): string[] {
	if (!fs.existsSync("/proc/self/stat")) {
		try {
			process.kill(-pgid, 0);
			return [`process group ${pgid}`];
		} catch {
			return [];
		}
	}
	const members: string[] = [];
	for (const entry of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
			const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			if (Number(pgrp) !== pgid || state === "Z") continue;
			members.push(`${entry}: ${fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim()}`);
		} catch {
			// gone while we looked
		}
	}
	return members;
}

function signalGroup(run: Run, signal: NodeJS.Signals): void {
	try {
		process.kill(-run.pgid, signal);
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
	}
}

/** The run's exit, or null if it is still running after `ms`. */
async function exitWithin(run: Run, ms: number): Promise<Exit | null> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<null>((resolve) => {
		timer = setTimeout(() => resolve(null), ms);
	});
	try {
		return await Promise.race([run.exited, timeout]);
	} finally {
		clearTimeout(timer);
	}
}

/** Every process of the run's group has exited: nothing is left holding the port or the databases. */
async function groupGone(run: Run): Promise<void> {
	await waitFor(
		() => {
			const left = groupMembers(run.pgid);
			if (left.length > 0) throw new Error(`still running:\n${left.join("\n")}`);
			return true;
		},
		{ timeoutMs: STOP_DEADLINE_MS, intervalMs: 50, what: `every process of '${run.name}' to exit` },
	);
}

/**
 * Until the node answers: /api/health is 200 (liveness) and then the clients and goals routes
 * answer too. The gateway listens a few hundred ms before the clients and goals services are
 * registered; in that window their routes answer 503 (and /api/ready says UP).
 */
async function untilServing(run: Run, api: ReturnType<typeof client>): Promise<void> {
	for (const route of ["/health", "/clients", "/goals"]) {
		const outcome = await waitFor(
			async () => {
				if (run.exit) return "exited";
				const res = await api.get(route).catch(() => null);
				return res?.status === 200 ? "up" : false;
			},
			{ timeoutMs: START_DEADLINE_MS, intervalMs: 100, what: `'${run.name}' to answer 200 on GET /api${route}` },
		);
		if (outcome === "exited") throw new Error(`'${run.name}' exited (${JSON.stringify(run.exit)}) before serving GET /api${route}`);
	}
}

/** Run `body`; if it fails, the failure message carries what every child printed. */
async function explained(body: () => Promise<void>): Promise<void> {
	try {
		await body();
	} catch (err) {
		const outputs = runs
			.map((run) => {
				const text = run.output();
				const tail = text.length > 6000 ? `…${text.slice(-6000)}` : text;
				return `----- ${run.name} (pgid ${run.pgid}, exit ${JSON.stringify(run.exit)}) -----\n${tail}`;
			})
			.join("\n");
		const error = err instanceof Error ? err : new Error(String(err));
		error.message = `${error.message}\n\nChild process output:\n${outputs}`;
		throw error;
	}
}

const STOPPED = /ServiceBroker is stopped/;
const STOP_FAILED = /Stopping failed/;

let createdClient: Record<string, unknown> & { id: number };
let createdGoal: Record<string, unknown> & { id: number };

beforeAll(() => {
	dir = freshCopy();
});

afterAll(async () => {
	for (const run of runs) {
		if (groupMembers(run.pgid).length > 0) signalGroup(run, "SIGKILL");
	}
	await Promise.all(runs.map((run) => exitWithin(run, 5000)));
	if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("npm start in a fresh copy serves the REST API on PORT and the operations page from web/; Ctrl-C stops it cleanly, the SQLite files are in ./data", async () => {
	await explained(async () => {
		expect(fs.existsSync(path.join(dir, "data"))).toBe(false);
		// an earlier `npm run build`'s copy of the page, beside the bundle npm start runs: not what it serves
		fs.mkdirSync(path.join(dir, "dist", "web", "ops"), { recursive: true });
		fs.writeFileSync(path.join(dir, "dist", "web", "ops", "index.html"), "<!doctype html><title>an earlier build</title>\n");
		const port = await freePort();
		const run = start("npm start", "npm", ["start"], port);
		const api = client(`http://127.0.0.1:${port}/api`);
		await untilServing(run, api);

		const page = await client(`http://127.0.0.1:${port}`).get("/ops/");
		expect(page.status).toBe(200);
		expect(page.text).toBe(fs.readFileSync(path.join(dir, "web", "ops", "index.html"), "utf8"));

		const clientRes = await api.post("/clients", { name: "Fresh Clone", email: "fresh@example.com" });
		expect(clientRes.status).toBe(201);
		createdClient = clientRes.body;
		const goalRes = await api.post("/goals", { clientId: createdClient.id, goalName: "House", targetAmount: 1234.56 });
		expect(goalRes.status).toBe(201);
		createdGoal = goalRes.body;
		expect(createdGoal).toMatchObject({ clientId: createdClient.id, clientName: "Fresh Clone", targetAmount: 1234.56, version: 1 });

		signalGroup(run, "SIGINT"); // Ctrl-C
		const exit = await exitWithin(run, STOP_DEADLINE_MS);
		expect(exit).not.toBeNull();
		// The app exits 0 (see the last test); npm's own status is 0, or death by SIGINT where
		// /bin/sh is dash, which re-raises a SIGINT it caught once its child has exited (a
		// shell shows 130, as for any `npm start` stopped with Ctrl-C there).
		expect([0, "SIGINT"]).toContain(exit?.code ?? exit?.signal);
		await groupGone(run);
		expect(run.output()).toMatch(STOPPED);
		expect(run.output()).not.toMatch(STOP_FAILED);
		await expect(api.get("/health")).rejects.toThrow(); // nothing listens any more

		expect(fs.existsSync(path.join(dir, "data", "clients.sqlite"))).toBe(true);
		expect(fs.existsSync(path.join(dir, "data", "goals.sqlite"))).toBe(true);
	});
});

test("npm start again on the same folder: the client and the goal are still there; SIGTERM stops it", async () => {
	expect(createdGoal).toBeDefined();
	await explained(async () => {
		const port = await freePort();
		const run = start("npm start (again)", "npm", ["start"], port);
		const api = client(`http://127.0.0.1:${port}/api`);
		await untilServing(run, api);

		const goal = await api.get(`/goals/${createdGoal.id}`);
		expect(goal.status).toBe(200);
		expect(goal.body).toEqual(createdGoal);
		const stored = await api.get(`/clients/${createdClient.id}`);
		expect(stored.status).toBe(200);
		expect(stored.body).toMatchObject({ id: createdClient.id, name: "Fresh Clone", email: "fresh@example.com", version: 1 });
		// The client's copy of its goals comes from goal events: whether or not it was applied
		// before Ctrl-C, the catch-up on start brings it in.
		await waitFor(
			async () => {
				const res = await api.get(`/clients/${createdClient.id}`);
				return res.body?.goals?.some((g: { id: number }) => g.id === createdGoal.id) ? res : false;
			},
			{ timeoutMs: 15_000, intervalMs: 100, what: "the client's copy of its goal" },
		);

		// What a process manager does (docker stop, systemd): SIGTERM to the group.
		signalGroup(run, "SIGTERM");
		const exit = await exitWithin(run, STOP_DEADLINE_MS);
		expect(exit).not.toBeNull();
		// dash does not catch SIGTERM: sh dies at once and npm re-raises it on itself.
		expect([0, "SIGTERM"]).toContain(exit?.code ?? exit?.signal);
		await groupGone(run); // the app outlives npm here, and must still stop
		expect(run.output()).toMatch(STOPPED);
		expect(run.output()).not.toMatch(STOP_FAILED);
	});
});

test("npm run repl: `call clients.create` answers the created client, `quit` exits 0", async () => {
	await explained(async () => {
		const port = await freePort();
		const run = start("npm run repl", "npm", ["run", "repl"], port, "pipe");
		// moleculer-repl is Node's own REPL: with a pipe instead of a terminal it reads line by
		// line, without echo or line editing, which is all a script needs.
		await waitFor(() => run.exit !== null || run.stdout().includes("mol $"), {
			timeoutMs: START_DEADLINE_MS,
			intervalMs: 100,
			what: "the REPL prompt 'mol $'",
		});
		expect(run.exit).toBeNull();

		run.child.stdin?.write("call clients.create --name Ann --email ann@example.com\n");
		const response = await waitFor(
			() => {
				const out = run.stdout();
				const at = out.indexOf(">> Response:");
				const answer = at >= 0 ? out.slice(at) : "";
				return /\n\}/.test(answer) ? answer : run.exit ? "exited" : false;
			},
			{ timeoutMs: 15_000, intervalMs: 50, what: "the REPL's response to call clients.create" },
		);
		expect(response).toContain("email: 'ann@example.com'");
		expect(response).toContain("name: 'Ann'");
		expect(response).toMatch(/version: 1\b/);
		expect(response).toMatch(/id: \d+/);

		run.child.stdin?.write("quit\n");
		const exit = await exitWithin(run, STOP_DEADLINE_MS);
		expect(exit).toEqual({ code: 0, signal: null });
		await groupGone(run);
		expect(run.output()).toMatch(STOPPED);
	});
});

test("the program npm start runs (node bin/run-compiled.js: the compiled bundle) exits 0 on Ctrl-C, and sees what the REST API and the REPL created", async () => {
	await explained(async () => {
		const port = await freePort();
		// with the flags npm start gives node (bin/node-flags.js)
		const flags = require("../../bin/node-flags.js") as string[];
		const run = start(`node ${flags.join(" ")} bin/run-compiled.js`, process.execPath, [...flags, "bin/run-compiled.js"], port);
		const api = client(`http://127.0.0.1:${port}/api`);
		await untilServing(run, api);

		const list = await api.get("/clients?pageSize=100");
		expect(list.status).toBe(200);
		const emails = list.body.rows.map((row: { email: string }) => row.email);
		expect(emails).toEqual(expect.arrayContaining(["fresh@example.com", "ann@example.com"]));

		signalGroup(run, "SIGINT");
		expect(await exitWithin(run, STOP_DEADLINE_MS)).toEqual({ code: 0, signal: null });
		await groupGone(run);
		expect(run.output()).toMatch(STOPPED);
	});
});

test("npm run dev runs the TypeScript sources through tsx, as npm start did before", async () => {
	await explained(async () => {
		const port = await freePort();
		const run = start("npm run dev", "npm", ["run", "dev"], port);
		const api = client(`http://127.0.0.1:${port}/api`);
		await untilServing(run, api);
		expect((await api.get("/clients?pageSize=1")).status).toBe(200);
		signalGroup(run, "SIGINT");
		const exit = await exitWithin(run, STOP_DEADLINE_MS);
		// npm's status, as for npm start: 0, or death by the SIGINT dash re-raises
		expect([0, "SIGINT"]).toContain(exit?.code ?? exit?.signal);
		await groupGone(run);
		expect(run.output()).toMatch(STOPPED);
		expect(run.output()).not.toMatch(/Compiled the sources/);
	});
});
