/**
 * `npm start` opens its port only once every service has started (the contract's "Starting and
 * stopping"): a client that polls /api/health from the moment of launch and sends a POST on the
 * first 200 gets a 201, never a 503 from a service that was not started yet. Real processes
 * (`node --import tsx bin/start.ts`, what `npm start` runs), 50 launches with fresh data folders,
 * a few at a time.
 */
import path from "node:path";
import { request } from "../helpers/http";
import { freePort, startNode } from "../helpers/node-process";
import { removeDir, tempDataDir } from "../helpers/system";

jest.setTimeout(240_000);

const LAUNCHES = 50;
const AT_ONCE = 5;

/** Poll until the port answers; every answer before the first 200 is kept (there should be none but connection refused). */
async function firstHealthy(url: string, deadline: number): Promise<number[]> {
	const seen: number[] = [];
	for (;;) {
		try {
			const res = await request("GET", `${url}/health`);
			if (res.status === 200) return seen;
			seen.push(res.status);
		} catch {
			// connection refused: the port is not open yet
		}
		if (Date.now() > deadline) throw new Error(`no 200 from ${url}/health within the deadline (saw ${seen.join(", ") || "nothing"})`);
		await new Promise((resolve) => setImmediate(resolve));
	}
}

async function launch(i: number): Promise<{ before: number[]; post: number; body: string }> {
	const dir = tempDataDir();
	const port = await freePort();
	const node = startNode(`start-${i}`, {
		PORT: String(port),
		CLIENTS_DB_URI: `sqlite:${path.join(dir, "clients.sqlite")}`,
		GOALS_DB_URI: `sqlite:${path.join(dir, "goals.sqlite")}`,
		LOG_LEVEL: "warn",
	});
	try {
		const url = `http://127.0.0.1:${port}/api`;
		const before = await firstHealthy(url, Date.now() + 60_000);
		const res = await request("POST", `${url}/clients`, { name: `Start ${i}`, email: `start${i}@example.com` });
		return { before, post: res.status, body: res.text };
	} finally {
		await node.stop();
		removeDir(dir);
	}
}

test(`${LAUNCHES} launches: a POST sent on the first 200 of /api/health is a 201`, async () => {
	const results: Array<{ before: number[]; post: number; body: string }> = [];
	for (let next = 0; next < LAUNCHES; next += AT_ONCE) {
		results.push(...(await Promise.all(Array.from({ length: Math.min(AT_ONCE, LAUNCHES - next) }, (_, k) => launch(next + k)))));
	}
	const refused = results.filter((result) => result.post !== 201 || result.before.length > 0);
	expect(refused).toEqual([]);
	expect(results).toHaveLength(LAUNCHES);
});
