/**
 * Start and stop a server of the benchmarks in a process of its own: a floor server
 * (bench/floor-server.ts) or the embedded peer (bench/peer/embedded.ts). Each sends `{ port }`
 * over IPC once listening and stops on "stop".
 */
import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
import { freePort, startNode, waitHealthy } from "../test/helpers/node-process";
import { compiled } from "./compiled";
import { ROOT } from "./load";
import { rssOfPid } from "./lib";

export interface FloorServer {
	/** base URL, e.g. http://127.0.0.1:41234/api */
	url: string;
	pid: number;
	/** its VmRSS in MiB now */
	rss(): number | null;
	stop(): Promise<void>;
}

function forkServer(script: string, args: string[], what: string): Promise<FloorServer> {
	const child: ChildProcess = fork(compiled(script), args, {
		cwd: ROOT,
		execArgv: [],
		stdio: ["ignore", "inherit", "inherit", "ipc"],
	});
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	return new Promise((resolve, reject) => {
		child.once("exit", (code) => reject(new Error(`${what} exited with ${code} before listening`)));
		child.once("message", (message: { port: number }) => {
			resolve({
				url: `http://127.0.0.1:${message.port}/api`,
				pid: child.pid as number,
				rss: () => rssOfPid(child.pid),
				stop: async () => {
					if (child.exitCode === null && child.signalCode === null) {
						if (child.connected) child.send("stop");
						else child.kill("SIGTERM");
					}
					await exited;
				},
			});
		});
	});
}

export function startFloorServer(mode: "sqlite" | "pg", target: string): Promise<FloorServer> {
	return forkServer(path.join(__dirname, "floor-server.ts"), [mode, target], `floor server (${mode})`);
}

/** The peer in one process (moleculer-web, a cached action, `sqlite3` files in `dataDir`). */
export function startEmbeddedPeer(dataDir: string): Promise<FloorServer> {
	return forkServer(path.join(__dirname, "peer", "embedded.ts"), [dataDir], "embedded peer");
}

/**
 * The project's embedded node as `npm start` runs it (bin/run-compiled.js), on SQLite files in
 * `dataDir`, in a process of its own like the peer's: its CPU and RSS are its own, not the
 * benchmark's.
 */
export async function startEmbeddedProject(dataDir: string): Promise<FloorServer> {
	const port = await freePort();
	const node = startNode(
		"embedded",
		{ PORT: String(port), CLIENTS_DB_URI: `sqlite:${path.join(dataDir, "clients.sqlite")}`, GOALS_DB_URI: `sqlite:${path.join(dataDir, "goals.sqlite")}` },
		{ compiled: true },
	);
	const url = `http://127.0.0.1:${port}/api`;
	await waitHealthy(node, `${url}/health`);
	return { url, pid: node.child.pid as number, rss: () => rssOfPid(node.child.pid), stop: async () => void (await node.stop()) };
}
