/** Start and stop a floor server (bench/floor-server.ts) in a process of its own. */
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

export function startFloorServer(mode: "sqlite" | "pg", target: string): Promise<FloorServer> {
	const child: ChildProcess = fork(path.join(__dirname, "floor-server.ts"), [mode, target], {
		cwd: ROOT,
		execArgv: ["--import", "tsx"],
		stdio: ["ignore", "inherit", "inherit", "ipc"],
	});
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	return new Promise((resolve, reject) => {
		child.once("exit", (code) => reject(new Error(`floor server (${mode}) exited with ${code} before listening`)));
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
