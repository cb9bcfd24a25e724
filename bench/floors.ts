/**
 * Start and stop a server of the benchmarks in a process of its own: a floor server
 * (bench/floor-server.ts) or the embedded peer (bench/peer/embedded.ts). Each sends `{ port }`
 * over IPC once listening and stops on "stop".
 */
import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
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
	const child: ChildProcess = fork(script, args, {
		cwd: ROOT,
		execArgv: ["--import", "tsx"],
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
