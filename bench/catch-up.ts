/**
 * How fast a consumer that was down converges: N client changes are made while the goal
 * service is not running, then it starts and catches up from the client service's log.
 * Baseline in the same run: reading the same N events through `clients.eventsAfter` without
 * applying them (the cost of transport and paging alone).
 */
import { performance } from "node:perf_hooks";
import { tempDataDir, removeDir, startSystem } from "../test/helpers/system";
import { waitFor } from "../test/helpers/wait";
import type { EventPage, ClientEvent } from "../lib/events";
import { progress } from "./lib";

const N = Number(process.argv[2] ?? 2000);

async function main(): Promise<void> {
	const dataDir = tempDataDir();
	try {
		progress(`writing ${N} client changes with the goal service down`);
		const producer = await startSystem({ dataDir, env: { SERVICES: "clients" } });
		for (let i = 0; i < N; i++) {
			if (i % 2 === 0) await producer.broker.call("clients.create", { name: `C${i}`, email: `c${i}@bench.test` });
			else await producer.broker.call("clients.update", { id: Math.ceil(i / 2), name: `C${i} renamed` });
			if ((i + 1) % 500 === 0) progress(`${i + 1}/${N}`);
		}

		progress("baseline: reading the log without applying it");
		const t0 = performance.now();
		let after = 0;
		for (;;) {
			const page: EventPage<ClientEvent> = await producer.broker.call("clients.eventsAfter", { after, limit: 500 });
			if (page.events.length === 0) break;
			after = page.events[page.events.length - 1].sequence;
		}
		const readMs = performance.now() - t0;
		await producer.stop();

		progress("starting clients + goals: catch-up");
		const t1 = performance.now();
		const system = await startSystem({ dataDir, env: { SERVICES: "clients,goals" } });
		await waitFor(
			async () => {
				const page: EventPage<ClientEvent> = await system.broker.call("clients.eventsAfter", { after: 0, limit: 1 });
				const cp = await checkpoint(system.dataDir);
				return cp >= page.lastSequence;
			},
			{ timeoutMs: 600_000, intervalMs: 50, what: "goals to catch up" },
		);
		const catchUpMs = performance.now() - t1;
		await system.stop();

		console.log(`\nCatch-up of ${N} client events (SQLite, one process)`);
		console.log("| case | ms | events/s |");
		console.log("| --- | ---: | ---: |");
		console.log(`| baseline: read the log in pages of 500 | ${readMs.toFixed(0)} | ${(N / (readMs / 1000)).toFixed(0)} |`);
		console.log(`| start goals and apply everything | ${catchUpMs.toFixed(0)} | ${(N / (catchUpMs / 1000)).toFixed(0)} |`);
	} finally {
		removeDir(dataDir);
	}
}

async function checkpoint(dataDir: string): Promise<number> {
	const { Sequelize, QueryTypes } = await import("sequelize");
	const db = new Sequelize({ dialect: "sqlite", storage: `${dataDir}/goals.sqlite`, logging: false });
	try {
		const rows = await db.query<{ sequence: number }>("SELECT sequence FROM checkpoints WHERE producer = 'clients'", { type: QueryTypes.SELECT });
		return rows[0]?.sequence ?? 0;
	} catch {
		return 0;
	} finally {
		await db.close();
	}
}

void main();
