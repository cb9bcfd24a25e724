/**
 * Real node processes: `bin/start.ts` started as its own OS process with the environment a
 * docker-compose service would get. Output is kept for failure messages.
 */
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { waitFor } from "./wait";

/** the flags node runs the program with (bin/node-flags.js) */
const NODE_FLAGS = require("../../bin/node-flags.js") as string[];

const ROOT = path.resolve(__dirname, "../..");

/**
 * The configuration variables (CONTRACT.md's table and our extensions): a test that starts the
 * program as a user would removes them from the environment it inherits, so a developer's shell
 * cannot leak them in.
 */
export const CONFIG_VARIABLES = [
	"SERVICES",
	"TRANSPORTER",
	"AMQP_QUEUE_TYPE",
	"CACHER",
	"NAMESPACE",
	"NODEID",
	"PORT",
	"HOST",
	"CLIENTS_DB_URI",
	"GOALS_DB_URI",
	"ADMIN_TOKEN",
	"RATE_LIMIT",
	"TRUST_PROXY",
	"CORS_ORIGINS",
	"TRANSPORTER_SECRET",
	"LOG_LEVEL",
	"CATCHUP_INTERVAL",
	"DB_POOL_MAX",
	"CLIENT_CHECK_TIMEOUT",
	"AMQP_PREFETCH",
	"METRICS_PORT",
	"FAULT_INJECTION",
	"FAULT_RULES",
	"HEARTBEAT_FILE",
	"EVENT_STREAM",
	"EVENT_STREAM_PREFIX",
	"EVENT_STREAM_URL",
	"RETRY_JITTER",
	"DEAD_LETTER_RETENTION_DAYS",
	"CONSUMER_PAUSE_AFTER",
	"CONSUMER_PAUSE_MS",
] as const;

export interface NodeProcess {
	name: string;
	child: ChildProcess;
	/** everything the process printed so far */
	output(): string;
	/** resolves with the exit code (or signal) once the process has exited */
	exited: Promise<number | NodeJS.Signals>;
	/** SIGTERM and wait for exit */
	stop(): Promise<number | NodeJS.Signals>;
	/** SIGKILL: no shutdown, no cleanup */
	kill9(): Promise<number | NodeJS.Signals>;
}

/**
 * A node over RabbitMQ relays its event log to the AMQP stream, whose exchange and queues are
 * global on the broker: on the machine's shared RabbitMQ it would leave messages in the
 * contract's queues for every other suite. So a test node runs without its relay unless the
 * test chose the stream (EVENT_STREAM or EVENT_STREAM_PREFIX, as Cluster does, which also
 * deletes its queues and exchanges afterwards).
 */
export function withoutSharedStream(env: Record<string, string>): Record<string, string> {
	if (!env.TRANSPORTER || env.EVENT_STREAM !== undefined || env.EVENT_STREAM_PREFIX !== undefined) return env;
	return { ...env, EVENT_STREAM: "off" };
}

/** How a node process is started. */
export interface StartOptions {
	/** the moleculer-repl prompt, fed through `child.stdin` */
	repl?: boolean;
	/** arguments for node itself (e.g. `--cpu-prof`, which NODE_OPTIONS refuses) */
	nodeArgs?: string[];
	/** as `npm start` runs it (bin/run-compiled.js: the compiled bundle), not the sources through tsx: the benchmarks measure that */
	compiled?: boolean;
}

export function startNode(name: string, env: Record<string, string>, options: StartOptions = {}): NodeProcess {
	// compiled: with the flags npm start gives node (bin/node-flags.js)
	const entry = options.compiled ? [...NODE_FLAGS, "bin/run-compiled.js"] : ["--import", "tsx", "bin/start.ts"];
	const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...entry, ...(options.repl ? ["--repl"] : [])], {
		cwd: ROOT,
		env: { ...process.env, LOG_LEVEL: "warn", ...withoutSharedStream(env) },
		stdio: [options.repl ? "pipe" : "ignore", "pipe", "pipe"],
	});
	let output = "";
	child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
	child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
	const exited = new Promise<number | NodeJS.Signals>((resolve) => {
		child.once("exit", (code, signal) => resolve(code ?? (signal as NodeJS.Signals)));
	});
	const signal = (sig: NodeJS.Signals) => {
		if (child.exitCode === null && child.signalCode === null) child.kill(sig);
		return exited;
	};
	return { name, child, output: () => output, exited, stop: () => signal("SIGTERM"), kill9: () => signal("SIGKILL") };
}

/**
 * Set a service's fault rules (FAULT_RULES syntax, or `none`) in a node started with
 * `repl: true` and FAULT_INJECTION=1, through its own REPL: the `faults` action is private, so
 * no other node (no probe) can reach it. Resolves once the node has printed the rules it now has.
 */
export async function replFaults(node: NodeProcess, service: string, rules: string): Promise<void> {
	if (!node.child.stdin) throw new Error(`${node.name} was not started with repl: true`);
	const from = node.output().length;
	node.child.stdin.write(`faults ${service} ${rules}\n`);
	const done = `${service} faults: `;
	const line = await waitFor(
		() =>
			node
				.output()
				.slice(from)
				.split("\n")
				.find((text) => text.includes(done) || text.includes(`faults ${service} failed`)),
		{
			timeoutMs: 10_000,
			what: `${node.name} to set ${service}'s faults to ${rules}\n${node.output().slice(from)}`,
		},
	);
	if (!line.includes(done)) throw new Error(`${node.name}: ${line}`);
}

/**
 * Type `command` into the REPL of a node started with `repl: true`, and resolve with the lines it
 * printed after it once `done` says they are all there (the node's log lines among them).
 */
export async function replRun(node: NodeProcess, command: string, done: (lines: string[]) => boolean, timeoutMs = 20_000): Promise<string[]> {
	if (!node.child.stdin) throw new Error(`${node.name} was not started with repl: true`);
	const from = node.output().length;
	node.child.stdin.write(`${command}\n`);
	const printed = () => node.output().slice(from).split("\n");
	return waitFor(() => (done(printed()) ? printed() : null), { timeoutMs, what: `${node.name}'s REPL to answer '${command}'\n${node.output().slice(from)}` });
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

/**
 * Whether something accepts TCP connections on `port` on loopback: the one probe for the global
 * setup's infra check and the private servers' start/stop waits. Never rejects.
 */
export function portOpen(port: number, timeoutMs = 500): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect({ host: "127.0.0.1", port, timeout: timeoutMs });
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
		socket.once("timeout", () => {
			socket.destroy();
			resolve(false);
		});
	});
}

/** Wait until `GET url` answers 200, or fail with the node's output. */
export async function waitHealthy(node: NodeProcess, url: string, timeoutMs = 30_000): Promise<void> {
	await waitFor(
		async () => {
			if (node.child.exitCode !== null) throw new Error(`${node.name} exited:\n${node.output()}`);
			const res = await fetch(url).catch(() => null);
			return res?.status === 200;
		},
		{ timeoutMs, intervalMs: 200, what: `${node.name} at ${url}\n${node.output()}` },
	);
}
