/**
 * Snapshots and rebuilds across real processes on PostgreSQL, RabbitMQ and Redis (issue 12, part
 * 2, must-show 5a): a goal node that joins a client service with a long history bootstraps its
 * copy of clients from the snapshot (it says so in its log); `POST /api/admin/rebuild/goals`
 * rebuilds that copy to exactly the rows it held before (names, emails, versions, tombstones),
 * never fewer rows at any moment, while GETs answer 200 throughout; a rebuild during writes
 * ends with every write in the copy; and the REPL's `rebuild goals`, on another node, prints its
 * progress and last line.
 */
import { Client } from "pg";
import type { Rebuild } from "../../lib/consumer/rebuilds";
import { clientHistory, insertRows } from "../helpers/client-log";
import { type ClientRow, Cluster, clientsAndCopies, copiesConverge } from "../helpers/cluster";
import { request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(240_000);

const TOKEN = "rebuild-cluster-admin-token-0123456789abcdef";
const ENTITIES = 10_000;
const EVENTS_EACH = 3;

describeWithInfra(["rabbitmq", "redis", "postgres"], "snapshots and rebuilds in a cluster", () => {
	const cluster = new Cluster({ ADMIN_TOKEN: TOKEN });
	let url = "";
	const bearer = { authorization: `Bearer ${TOKEN}` };
	const rebuild = (method: "POST" | "GET") => request<Rebuild>(method, `${url}/admin/rebuild/goals`, undefined, { headers: bearer });

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		url = await cluster.startApi("api-1");
	});
	afterAll(() => cluster.tearDown());

	/** Until `done` resolves: GETs of clients and goals in a loop, each status kept; and the copy's row count never below `floor`. */
	function readWhile(done: Promise<unknown>, ids: { clients: number[]; goals: number[] }, floor: number) {
		let busy = true;
		void done.finally(() => {
			busy = false;
		});
		const statuses: number[] = [];
		const counts: number[] = [];
		const loops = [
			...[0, 1].map(async (r) => {
				for (let i = 0; busy; i++) {
					statuses.push((await request("GET", `${url}/clients/${ids.clients[(r * 31 + i) % ids.clients.length]}`)).status);
					statuses.push((await request("GET", `${url}/goals/${ids.goals[i % ids.goals.length]}`)).status);
				}
			}),
			(async () => {
				while (busy) counts.push(Number((await cluster.query<{ n: string }>("goals", "SELECT COUNT(*) AS n FROM client_projection"))[0].n));
			})(),
		];
		return {
			finished: Promise.all(loops).then(() => ({ statuses, counts, belowFloor: counts.filter((n) => n < floor) })),
		};
	}

	async function rebuilt(): Promise<Rebuild> {
		return waitFor(
			async () => {
				const res = await rebuild("GET");
				expect(res.status).toBe(200);
				return res.body.mode === "rebuild" && res.body.state !== "running" ? res.body : null;
			},
			{ timeoutMs: 120_000, intervalMs: 100, what: `the rebuild to end\n${cluster.logs().slice(-3000)}` },
		);
	}

	test("a goal node with no checkpoint bootstraps from the snapshot; a rebuild gives exactly the copy it held, GETs 200 throughout; writes during a rebuild end up in the copy; the REPL's rebuild prints its progress", async () => {
		// a long history, written straight into the client service's database (what REST would have written)
		const history = clientHistory(ENTITIES, EVENTS_EACH, 10, cluster.namespace);
		const db = new Client({ connectionString: cluster.clientsDb });
		await db.connect();
		try {
			await db.query("BEGIN");
			const run = (text: string, params: unknown[]) => db.query(text, params);
			await insertRows(run, "event_log", history.events, { chunk: 1000, placeholders: "$n" });
			const now = new Date();
			await insertRows(run, "clients", history.clients, { chunk: 1000, placeholders: "$n", extra: { createdAt: now, updatedAt: now } });
			await db.query(`SELECT setval(pg_get_serial_sequence('clients', 'id'), (SELECT MAX(id) FROM clients))`);
			await db.query("COMMIT");
		} finally {
			await db.end();
		}
		const head = ENTITIES * EVENTS_EACH;

		// the goal node joins with nothing: it starts from the snapshot at the head
		// LOG_LEVEL info: its progress lines are what this test reads
		const goals = await cluster.start("goals-1", "goals", { LOG_LEVEL: "info" });
		// the bootstrap's last line, then the copies (no goals exist yet: converged copies alone do not say the bootstrap is over)
		const bootstrapped = new RegExp(`Bootstrapped goals' copy of clients from snapshot at #${head}: ${ENTITIES.toLocaleString("en-US")} entities`);
		await waitFor(() => bootstrapped.test(goals.output()), { timeoutMs: 120_000, intervalMs: 200, what: "the bootstrap's last line" });
		await copiesConverge(cluster, 120_000);
		expect(goals.output()).toContain(`Bootstrapping goals' copy of clients from snapshot at #${head}: 0 / ${ENTITIES.toLocaleString("en-US")} entities`);

		const alive = (await clientsAndCopies(cluster)).truth.filter((row) => !row.deleted).map((row) => Number(row.id));
		const goalIds: number[] = [];
		for (const clientId of alive.slice(0, 10)) {
			const res = await request("POST", `${url}/goals`, { clientId, goalName: "House", targetAmount: 1000 });
			expect(res.status).toBe(201);
			goalIds.push(res.body.id);
		}
		const ids = { clients: alive, goals: goalIds };

		// 1. a rebuild with nothing changing: the copy ends exactly as it was, and never had fewer rows
		const before: ClientRow[] = (await clientsAndCopies(cluster)).copy;
		expect(before).toHaveLength(ENTITIES);
		const accepted = await rebuild("POST");
		expect(accepted.status).toBe(202);
		expect(accepted.body).toMatchObject({ consumer: "goals", producer: "clients", mode: "rebuild", state: "running" });
		const first = rebuilt();
		const reads = await readWhile(first, ids, ENTITIES).finished;
		const done = await first;
		expect(done).toMatchObject({ state: "done", atSequence: head, entities: ENTITIES, total: ENTITIES, written: 0, removed: 0, error: null });
		expect((await clientsAndCopies(cluster)).copy).toEqual(before);
		expect(reads.statuses.length).toBeGreaterThan(0);
		expect(reads.statuses.filter((status) => status !== 200)).toEqual([]);
		expect(reads.counts.length).toBeGreaterThan(0);
		expect(reads.belowFloor).toEqual([]);
		expect(goals.output()).toContain(`Rebuilding goals' copy of clients from snapshot at #${head}: 0 / ${ENTITIES.toLocaleString("en-US")} entities`);
		expect(goals.output()).toMatch(new RegExp(`Rebuilt goals' copy of clients from snapshot at #${head}: ${ENTITIES.toLocaleString("en-US")} entities`));

		// 2. a rebuild while clients are renamed and created: every write ends up in the copy
		let writing = true;
		let writes = 0;
		const failed: number[] = [];
		const writers = [0, 1].map(async (w) => {
			for (let i = 0; writing; i++) {
				const res =
					i % 4 === 3
						? await request("POST", `${url}/clients`, { name: `New ${w}-${i}`, email: `new.${w}.${i}.${cluster.namespace}@example.com` })
						: await request("PUT", `${url}/clients/${alive[(w * 101 + i * 7) % alive.length]}`, { name: `During ${w}-${i}` });
				if (res.status >= 300) failed.push(res.status);
				writes++;
			}
		});
		await waitFor(() => writes >= 10, { timeoutMs: 30_000, what: "the writers under way" });
		const writesBefore = writes;
		expect((await rebuild("POST")).status).toBe(202);
		const second = rebuilt();
		const readsDuring = await readWhile(second, ids, ENTITIES).finished;
		const doneDuring = await second;
		const writesDuring = writes - writesBefore;
		await waitFor(() => writes >= writesBefore + writesDuring + 5, { timeoutMs: 30_000, what: "writes after the rebuild" });
		writing = false;
		await Promise.all(writers);
		expect(doneDuring).toMatchObject({ state: "done", error: null });
		expect(writesDuring).toBeGreaterThan(0);
		expect(failed).toEqual([]);
		expect(readsDuring.statuses.filter((status) => status !== 200)).toEqual([]);
		expect(readsDuring.belowFloor).toEqual([]);
		await copiesConverge(cluster, 60_000);
		const { truth } = await clientsAndCopies(cluster);
		expect(truth.length).toBeGreaterThan(ENTITIES);

		// 3. the REPL of any node of the cluster: `rebuild goals` prints the progress lines and the last one
		const settled = (await clientsAndCopies(cluster)).copy;
		const repl = await cluster.start("repl-1", "api", { PORT: "0" }, { repl: true });
		repl.child.stdin?.write("rebuild goals\n");
		await waitFor(() => /Rebuilt goals' copy of clients from snapshot at #\d+: [\d,]+ entities/.test(repl.output()), {
			timeoutMs: 60_000,
			what: `the REPL to print the rebuild's last line\n${repl.output()}`,
		});
		repl.child.stdin?.write("rebuild nobody\n");
		await waitFor(() => repl.output().includes("rebuild nobody failed: No consumer 'nobody'"), {
			timeoutMs: 10_000,
			what: "the REPL to refuse an unknown consumer",
		});
		expect((await clientsAndCopies(cluster)).copy).toEqual(settled);
	});
});
