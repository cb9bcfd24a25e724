/**
 * Concurrency inside one node, with real processes over RabbitMQ, Redis and PostgreSQL: the AMQP
 * transporter's prefetch (AMQP_PREFETCH, default 32) lets a node serve many requests of one action
 * and apply many events of one queue at once, and the consumer engine applies events in batches
 * partitioned by entity id. Two properties:
 * - goal creation while the client service hangs (SIGSTOP) answers from the goal service's copy,
 *   the requests side by side, each within its own CLIENT_CHECK_TIMEOUT (not one after another);
 * - two goals replicas applying 300 client changes concurrently end with a copy equal to the
 *   producer, cascades complete, and each event applied to effect exactly once.
 * One cluster for both, as in the other cluster suites: the second test restarts the client node
 * the first one stopped and adds a second goals replica.
 */
import { Client as PgClient } from "pg";
import { METRICS } from "../../lib/constants";
import { Cluster, clientsAndCopies } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(180_000);

type Api = ReturnType<typeof client>;

/** CLIENT_CHECK_TIMEOUT of the goals node (its default, set explicitly) */
const CHECK_TIMEOUT_MS = 2_000;
/** what each concurrent goal creation may take beyond the check's timeout */
const SLACK_MS = 1_000;
/** concurrent goal creations while the client service is stopped */
const CONCURRENT_GOALS = 5;
/** client changes through REST in the second test, and how many are in flight at once */
const CHANGES = 300;
const CHANGE_CONCURRENCY = 10;

/** A consumer counter (cg.events.*) on one node for events of one producer (0 when never incremented). */
async function counterFrom(cluster: Cluster, nodeID: string, metric: string, producer: string): Promise<number> {
	const list = (await cluster.probe.call("$node.metrics", { includes: [metric] }, { nodeID })) as Array<{
		name: string;
		values: Array<{ labels: Record<string, string>; value: number }>;
	}>;
	return list
		.filter((m) => m.name === metric)
		.flatMap((m) => m.values)
		.filter((v) => v.labels.producer === producer)
		.reduce((sum, v) => sum + v.value, 0);
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "concurrency within a node (AMQP prefetch > 1)", () => {
	const cluster = new Cluster();
	let api: Api;
	const GOALS_NODES = ["goals-1", "goals-2"];
	/** every goals replica: the client check's timeout, and the prefetch this suite is about */
	const GOALS_ENV = { CLIENT_CHECK_TIMEOUT: String(CHECK_TIMEOUT_MS), AMQP_PREFETCH: "32" };

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		await cluster.start("goals-1", "goals", GOALS_ENV);
		api = client(await cluster.startApi("api-1"));
	}, 90_000);

	afterAll(async () => {
		await cluster.tearDown();
	}, 60_000);

	test(`with the client service frozen, ${CONCURRENT_GOALS} concurrent goal creations for known clients all answer 201 within CLIENT_CHECK_TIMEOUT + 1 s`, async () => {
		// clients the goal service knows alive, from client.created events
		const clients: Array<{ id: number; name: string }> = [];
		for (let i = 0; i < CONCURRENT_GOALS; i++) {
			const res = await api.post("/clients", { name: `Known ${i}`, email: `known-${i}@example.com` });
			expect(res.status).toBe(201);
			clients.push({ id: res.body.id, name: res.body.name });
		}
		const ids = clients.map((c) => c.id).join(", ");
		await waitFor(
			async () => {
				const rows = await cluster.query<{ clientId: number; name: string; deleted: boolean }>(
					"goals",
					`SELECT "clientId", name, deleted FROM client_projection WHERE "clientId" IN (${ids})`,
				);
				return clients.every((c) => rows.some((r) => r.clientId === c.id && r.name === c.name && !r.deleted));
			},
			{ timeoutMs: 10_000, intervalMs: 100, what: `the goal service's copy of clients ${ids}\n${cluster.logs()}` },
		);
		// healthy: the client service answers the check
		const healthy: number[] = [];
		for (const c of clients) {
			const started = performance.now();
			const res = await api.post("/goals", { clientId: c.id, goalName: "Healthy", targetAmount: 100 });
			healthy.push(performance.now() - started);
			expect(res.status).toBe(201);
		}

		// Frozen, not stopped: a stopped node leaves the registry and the check fails at once, so
		// only a node that hangs makes each check wait its whole timeout. With prefetch 1 the five
		// were served one after another (2 s, 4 s, 6 s, 8 s, then a 504); now side by side.
		const clientsPid = cluster.nodes.get("clients-1")?.child.pid as number;
		process.kill(clientsPid, "SIGSTOP");
		let answers: Array<{ clientId: number; status: number; ms: number; body: any }>;
		try {
			answers = await Promise.all(
				clients.map(async (c) => {
					const started = performance.now();
					const res = await api.post("/goals", { clientId: c.id, goalName: "Concurrent", targetAmount: 250.5 });
					return { clientId: c.id, status: res.status, ms: performance.now() - started, body: res.body };
				}),
			);
		} finally {
			process.kill(clientsPid, "SIGCONT");
		}
		console.log(
			`concurrent goal creation, clients frozen: healthy ${healthy.map(Math.round).join(", ")} ms; ` +
				`frozen ${answers.map((a) => `${a.status} in ${Math.round(a.ms)} ms`).join(", ")}`,
		);
		expect(answers.map(({ clientId, status }) => ({ clientId, status }))).toEqual(clients.map((c) => ({ clientId: c.id, status: 201 })));
		for (const [i, answer] of answers.entries()) {
			expect(answer.body).toMatchObject({ clientId: clients[i].id, clientName: clients[i].name, goalName: "Concurrent", targetAmount: 250.5 });
			expect({ clientId: answer.clientId, withinBound: answer.ms <= CHECK_TIMEOUT_MS + SLACK_MS, ms: answer.ms }).toEqual({
				clientId: answer.clientId,
				withinBound: true,
				ms: answer.ms,
			});
		}
	});

	test(`${CHANGES} changes over two goals replicas with prefetch > 1: the projection equals the producer, no version applied twice to effect`, async () => {
		// a second goals replica
		await cluster.start("goals-2", "goals", GOALS_ENV);

		// one connection for the many small polls of the goal service's copy below
		const goalsDb = new PgClient({ connectionString: cluster.goalsDb });
		goalsDb.on("error", () => undefined);
		await goalsDb.connect();
		try {
			/** Wait until the goal service's copy of a client holds `version` (from its events). */
			const copyAt = (id: number, version: number) =>
				waitFor(
					async () => {
						const { rows } = await goalsDb.query<{ version: number }>(`SELECT version FROM client_projection WHERE "clientId" = $1`, [id]);
						return rows[0] !== undefined && rows[0].version >= version;
					},
					{ timeoutMs: 10_000, intervalMs: 20, what: `the goal service's copy of client ${id} at version ${version}\n${cluster.logs()}` },
				);

			// Whatever came before has been applied: the copy equals the truth.
			await waitFor(
				async () => {
					const { truth, copy } = await clientsAndCopies(cluster);
					return JSON.stringify(truth) === JSON.stringify(copy);
				},
				{ timeoutMs: 15_000, intervalMs: 250, what: `goals' client copy to equal the clients table before the changes\n${cluster.logs()}` },
			);
			const perNode = (metric: string) => Promise.all(GOALS_NODES.map((node) => counterFrom(cluster, node, metric, "clients")));
			const appliedBefore = await perNode(METRICS.eventsApplied);

			// Ten changes in flight at once, of ten different clients. A client's next change waits
			// until the goal service has applied its last one: were two versions of one client in
			// flight together, one replica could apply the newer before the other applies the older,
			// which the version guard then rightly skips (stale, not applied): the exact count below
			// would not hold, though nothing is lost. For the same reason goals are created only once
			// the copy has the client from its event: goal creation's client check also teaches the
			// copy (clients.lookup, then learn), and the client.created event would then be stale.
			const alive = new Map<number, { inFlight: number }>();
			const goalsOf = new Map<number, number[]>();
			const deletedClients: number[] = [];
			const done = { creates: 0, renames: 0, deletes: 0 };
			let next = 0;

			async function create(i: number): Promise<void> {
				const res = await api.post("/clients", { name: `Change ${i}`, email: `change-${i}@example.com` });
				expect(res.status).toBe(201);
				const id: number = res.body.id;
				await copyAt(id, 1);
				// each client gets one or two goals before it can be renamed or deleted
				const goals: number[] = [];
				for (let g = 0; g < 1 + (i % 2); g++) {
					const goal = await api.post("/goals", { clientId: id, goalName: `Goal ${i}.${g}`, targetAmount: 10 + g });
					expect(goal.status).toBe(201);
					goals.push(goal.body.id);
				}
				goalsOf.set(id, goals);
				alive.set(id, { inFlight: 0 });
				done.creates++;
			}

			async function rename(i: number, id: number): Promise<void> {
				const state = alive.get(id) as { inFlight: number };
				state.inFlight++;
				try {
					const body = i % 5 === 0 ? { name: `Change ${i} renamed`, email: `change-${i}-moved@example.com` } : { name: `Change ${i} renamed` };
					const res = await api.put(`/clients/${id}`, body);
					expect(res.status).toBe(200);
					done.renames++;
					await copyAt(id, res.body.version);
				} finally {
					state.inFlight--;
				}
			}

			async function remove(id: number): Promise<void> {
				const res = await api.del(`/clients/${id}`);
				expect(res.status).toBe(204);
				deletedClients.push(id);
				done.deletes++;
			}

			/** The i-th change, chosen synchronously from the current state. */
			function change(i: number): Promise<void> {
				const idle = [...alive.keys()].filter((id) => alive.get(id)?.inFlight === 0);
				if (alive.size < CHANGE_CONCURRENCY || i % 3 === 0 || idle.length === 0) return create(i);
				if (i % 8 === 0) {
					// never changed again: out of the pool before its request goes
					alive.delete(idle[0]);
					return remove(idle[0]);
				}
				return rename(i, idle[(i * 7) % idle.length]);
			}

			const [{ eventsBefore }] = await cluster.query<{ eventsBefore: number }>("clients", `SELECT count(*)::int AS "eventsBefore" FROM event_log`);
			await Promise.all(
				Array.from({ length: CHANGE_CONCURRENCY }, async () => {
					while (next < CHANGES) await change(next++);
				}),
			);
			expect(done.creates + done.renames + done.deletes).toBe(CHANGES);
			expect(done.deletes).toBeGreaterThan(0);
			expect(done.renames).toBeGreaterThan(0);

			// the producer's log: one event per change
			const [{ events }] = await cluster.query<{ events: number }>("clients", `SELECT count(*)::int AS events FROM event_log`);
			expect(events - eventsBefore).toBe(CHANGES);

			const goalIds = [...goalsOf.values()].flat();
			const deletedGoals = deletedClients.flatMap((id) => goalsOf.get(id) as number[]);
			const aliveGoals = [...alive.keys()].flatMap((id) => goalsOf.get(id) as number[]);
			expect(deletedGoals.length).toBeGreaterThan(0);

			// the goal service's copy equals the clients table, and every cascade has run
			await waitFor(
				async () => {
					const { truth, copy } = await clientsAndCopies(cluster);
					if (JSON.stringify(truth) !== JSON.stringify(copy)) return false;
					const [{ open }] = await cluster.query<{ open: number }>(
						"goals",
						`SELECT count(*)::int AS open FROM goals WHERE "clientId" IN (${deletedClients.join(", ")}) AND "deletedAt" IS NULL`,
					);
					return open === 0;
				},
				{ timeoutMs: 30_000, intervalMs: 250, what: `goals' client copy to equal the clients table and the cascades to finish\n${cluster.logs()}` },
			);
			const { truth } = await clientsAndCopies(cluster);
			expect(truth.filter((row) => row.deleted).map((row) => row.id)).toEqual([...deletedClients].sort((a, b) => a - b));

			// goals: those of deleted clients deleted, each with its own DELETED event at its last version; the others alive
			const goals = (
				await cluster.query<{ id: number; version: number; deleted: boolean }>(
					"goals",
					`SELECT id, version, ("deletedAt" IS NOT NULL) AS deleted FROM goals ORDER BY id`,
				)
			).filter((goal) => goalIds.includes(goal.id));
			const byId = (a: number, b: number) => a - b;
			expect(goals.map((g) => g.id)).toEqual([...goalIds].sort(byId));
			expect(goals.filter((g) => g.deleted).map((g) => g.id)).toEqual([...deletedGoals].sort(byId));
			expect(goals.filter((g) => !g.deleted).map((g) => g.id)).toEqual([...aliveGoals].sort(byId));
			const deletions = await cluster.query<{ entityId: number; version: number }>(
				"goals",
				`SELECT "entityId", version FROM event_log WHERE "eventType" = 'DELETED' ORDER BY "entityId", version`,
			);
			expect(deletions).toEqual(goals.filter((g) => g.deleted).map((g) => ({ entityId: g.id, version: g.version })));

			// Each client event in the producer's log applied to effect exactly once over the two
			// replicas, each taking a share of the changes. Counters move just after each commit:
			// wait for the last ones, then check there is no extra.
			let seen: number[] = [];
			await waitFor(
				async () => {
					seen = await perNode(METRICS.eventsApplied);
					return seen.reduce((a, b) => a + b, 0) >= events;
				},
				{ timeoutMs: 5_000, what: `the applied counters to reach ${events}` },
			).catch(async (err: Error) => {
				throw new Error(`${err.message}: applied ${seen.join(" + ")}, stale ${(await perNode(METRICS.eventsStale)).join(" + ")}`);
			});
			const applied = await perNode(METRICS.eventsApplied);
			const stale = await perNode(METRICS.eventsStale);
			console.log(
				`${CHANGES} client changes (${done.creates} creates, ${done.renames} renames, ${done.deletes} deletes of clients with ` +
					`${deletedGoals.length} goals): applied ${applied.map((n, i) => n - appliedBefore[i]).join(" + ")} ` +
					`(${applied.join(" + ")} in all, of ${events} events), stale ${stale.join(" + ")} on ${GOALS_NODES.join(", ")}`,
			);
			expect(applied[0] - appliedBefore[0]).toBeGreaterThan(0);
			expect(applied[1] - appliedBefore[1]).toBeGreaterThan(0);
			expect(applied[0] + applied[1]).toBe(events);
		} finally {
			await goalsDb.end();
		}
	});
});
