/**
 * A real system for tests: real ServiceBrokers, real SQLite files in a fresh temp folder, the
 * real gateway on an ephemeral port, reached over real HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Server } from "node:http";
import type { Service, ServiceBroker } from "moleculer";
import { loadConfig } from "../../moleculer.config";
import { createNode } from "../../lib/node";

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
export async function startSystem(
	options: { dataDir?: string; env?: Record<string, string> } = {},
): Promise<TestSystem> {
	const dataDir = options.dataDir ?? tempDataDir();
	const config = loadConfig({
		PORT: "0",
		LOG_LEVEL: "warn",
		CLIENTS_DB_URI: `sqlite:${path.join(dataDir, "clients.sqlite")}`,
		GOALS_DB_URI: `sqlite:${path.join(dataDir, "goals.sqlite")}`,
		...options.env,
	});
	const broker = createNode(config);
	await broker.start();
	const api = broker.getLocalService("api") as (Service & { server: Server }) | undefined;
	const url = api ? `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/api` : "";
	return { broker, url, dataDir, stop: () => broker.stop() };
}
