/**
 * A real system for tests: real ServiceBrokers, real SQLite files in a fresh temp folder, the
 * real gateway on an ephemeral port, reached over real HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ServiceBroker } from "moleculer";
import { loadConfig } from "../../moleculer.config";
import { createNode } from "../../bin/node";
import { whenListening } from "../../mixins/listen-when-started.mixin";
import { client } from "./http";
import { withoutSharedStream } from "./node-process";

export interface TestSystem {
	broker: ServiceBroker;
	/** base URL of the gateway, e.g. http://127.0.0.1:45678/api (empty if the node runs no api) */
	url: string;
	dataDir: string;
	stop(): Promise<void>;
}

export function tempDataDir(): string {
	return mkdtempSync(path.join(os.tmpdir(), "cg-test-"));
}

export function removeDir(dir: string): void {
	rmSync(dir, { recursive: true, force: true });
}

/** Start a node with its SQLite files in `dataDir` (a new temp folder unless given). */
export async function startSystem(options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<TestSystem> {
	const dataDir = options.dataDir ?? tempDataDir();
	const config = loadConfig({
		PORT: "0",
		LOG_LEVEL: "warn",
		CLIENTS_DB_URI: `sqlite:${path.join(dataDir, "clients.sqlite")}`,
		GOALS_DB_URI: `sqlite:${path.join(dataDir, "goals.sqlite")}`,
		// no relay to the shared broker's global stream names unless the test asks for one
		...withoutSharedStream(options.env ?? {}),
	});
	const broker = createNode(config);
	await broker.start();
	const address = await whenListening(broker);
	const url = address ? `http://127.0.0.1:${address.port}/api` : "";
	return { broker, url, dataDir, stop: () => broker.stop() };
}

/**
 * One system for the enclosing describe (or file): started in beforeAll, stopped and its folder
 * removed in afterAll, so that suites do not each repeat those hooks. `system` is there once
 * beforeAll has run; `api` reads the URL at each call, so it may be destructured at once.
 */
export function useSystem(options?: Parameters<typeof startSystem>[0]): {
	readonly system: TestSystem;
	readonly api: ReturnType<typeof client>;
} {
	let started: TestSystem | undefined;
	const current = (): TestSystem => {
		if (!started) throw new Error("useSystem: the system starts in beforeAll; use it from a test or a later hook");
		return started;
	};
	beforeAll(async () => {
		started = await startSystem(options);
	});
	afterAll(async () => {
		if (!started) return;
		await started.stop();
		removeDir(started.dataDir);
	});
	const api = client(() => current().url);
	return {
		get system() {
			return current();
		},
		api,
	};
}
