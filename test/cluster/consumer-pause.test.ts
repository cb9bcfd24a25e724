/**
 * A consumer paused and resumed (issue 21, part 2; CONTRACT.md, "Operating consumers"), with real
 * processes over RabbitMQ, Redis and PostgreSQL, the goal service on two replicas:
 *
 * - failing every event, it pauses itself after CONSUMER_PAUSE_AFTER consecutive failures, on both
 *   replicas (the pause is the consumer's); the events sent meanwhile wait in RabbitMQ (its queues
 *   have no consumer, their depth grows, no retry or dead letter is made of them); a replica
 *   restarted meanwhile starts paused; fixed and resumed, every event is applied, each once;
 * - an operator pauses and resumes it (admin API and the REPL of a real node) while REST changes
 *   are answered 2xx throughout, with the same guarantees;
 * - `/api/ready` and the admin API show it paused and why; `cg.consumer.pauses` counts the pauses
 *   and `cg.consumer.paused` is 1 on each replica while it lasts.
 *
 * The pause by failures trying one event after CONSUMER_PAUSE_MS is shown with an injected clock
 * (test/integration/consumer-pause.test.ts); here that time is long enough never to come.
 */
import { METRICS, consumerQueueNames, CONSUMERS } from "../../lib/constants";
import { adminTokenId } from "../../lib/http/admin-auth";
import { Cluster, copiesConverge } from "../helpers/cluster";
import { client, request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { type NodeProcess, replFaults, replRun } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(300_000);

const TOKEN = "consumer-pause-admin-token-0123456789abcdef";
const BEARER = { authorization: `Bearer ${TOKEN}` };
const PAUSE_AFTER = 5;
const GOALS = ["goals-1", "goals-2"];

interface QueueFigures {
	messages: number | null;
	consumers: number | null;
}
interface ConsumerEntry {
	lag: number | null;
	state: string | null;
	reason: string | null;
	since: string | null;
	queues: Record<string, QueueFigures>;
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "a consumer paused, by its failures and by an operator", () => {
	const cluster = new Cluster({ CONSUMER_PAUSE_AFTER: String(PAUSE_AFTER), CONSUMER_PAUSE_MS: "3600000", ADMIN_TOKEN: TOKEN });
	const goals = new Map<string, NodeProcess>();
	let base = "";
	let api: ReturnType<typeof client>;
	const ids: number[] = [];
	/** every REST answer of the test: none may be other than 2xx */
	const answers: Array<{ what: string; status: number }> = [];

	const admin = (method: string, path: string, body?: unknown) => request(method, `${base}/admin${path}`, body, { headers: BEARER });
	const rest = async (method: "GET" | "PUT" | "POST", path: string, body?: unknown) => {
		const res = await request(method, `${base}${path}`, body);
		answers.push({ what: `${method} ${path}`, status: res.status });
		return res;
	};
	const goalsEntry = async (): Promise<ConsumerEntry> => {
		const ready = await rest("GET", "/ready");
		return ready.body.components.consumers.goals as ConsumerEntry;
	};
	const updatedQueue = consumerQueueNames(cluster.namespace, CONSUMERS.goals).find((name) => name.endsWith(".client.updated")) as string;
	const replicaState = (nodeID: string) =>
		cluster.probe.call<{ state: string; reason: string | null }, Record<string, never>>(CONSUMERS.goals.pauseStateAction, {}, { nodeID });
	const bothReplicas = (state: string) =>
		waitFor(async () => (await Promise.all(GOALS.map((node) => replicaState(node)))).every((answer) => answer.state === state), {
			timeoutMs: 15_000,
			what: `both goals replicas ${state}\n${cluster.logs()}`,
		});
	const queueIs = (check: (queues: QueueFigures[], updated: QueueFigures) => boolean, what: string) =>
		waitFor(
			async () => {
				const { queues } = await goalsEntry();
				return check(Object.values(queues), queues[updatedQueue]) ? queues : null;
			},
			{ timeoutMs: 30_000, intervalMs: 200, what },
		);
	const appliedOn = async (nodes: string[]) => {
		let total = 0;
		for (const node of nodes) total += await cluster.counter(node, METRICS.eventsApplied, { producer: "clients" });
		return total;
	};
	const copyNames = async (from: number, to: number) =>
		(
			await cluster.query<{ clientId: number; name: string }>(
				"goals",
				`SELECT "clientId", name FROM client_projection WHERE "clientId" BETWEEN ${from} AND ${to} ORDER BY "clientId"`,
			)
		).map((row) => row.name);
	const retryRowsFor = async (from: number, to: number) =>
		cluster.query<{ entityId: number; status: string }>("goals", `SELECT "entityId", status FROM event_retries WHERE "entityId" BETWEEN ${from} AND ${to}`);
	const startGoals = async (name: string) => {
		goals.set(name, await cluster.start(name, "goals", { FAULT_INJECTION: "1" }, { repl: true }));
	};

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		for (const name of GOALS) await startGoals(name);
		base = await cluster.startApi("api-1");
		api = client(base);
		for (let i = 1; i <= 25; i++) {
			const res = await api.post("/clients", { name: `Client ${i}`, email: `c${i}-${cluster.namespace}@example.com` });
			expect(res.status).toBe(201);
			ids.push(res.body.id);
		}
		expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
		await copiesConverge(cluster);
		// both replicas consume each of the goal service's queues
		await queueIs((queues) => queues.every((queue) => queue.consumers === 2), "two consumers on each goals queue");
		// every event applied and the checkpoint at the head: no catch-up reads one again once the
		// fault is set (an injected fault fails an event even where it would be stale)
		await waitFor(async () => (await goalsEntry()).lag === 0, { timeoutMs: 20_000, what: "the goal service's lag 0" });
	});
	afterAll(() => cluster.tearDown());

	test("failing every event, it pauses itself on both replicas; events meanwhile wait in RabbitMQ; restarted, a replica stays paused; fixed and resumed, each is applied once", async () => {
		const appliedBefore = await appliedOn(["goals-1"]);
		for (const node of goals.values()) await replFaults(node, "goals", "apply:all:always");

		// clients 1..5 renamed: each rename fails on whichever replica takes it
		for (let id = 1; id <= 5; id++) expect((await rest("PUT", `/clients/${id}`, { name: `Renamed ${id}` })).status).toBe(200);
		const listed = await waitFor(
			async () => {
				const res = await admin("GET", "/consumers");
				expect(res.status).toBe(200);
				return res.body.find((entry: { consumer: string; state: string }) => entry.consumer === "goals" && entry.state === "paused");
			},
			{ timeoutMs: 30_000, what: `the goals consumer paused\n${cluster.logs()}` },
		);
		// the count that crossed the threshold (a batch, or two replicas at once, may take it past)
		const reason = /^(\d+) consecutive failed events \(last: InjectedFaultError: Injected fault for entity [1-5]\); tries one event at \S+Z$/.exec(
			listed.reason,
		);
		expect(reason).not.toBeNull();
		expect(Number(reason?.[1])).toBeGreaterThanOrEqual(PAUSE_AFTER);
		expect(new Date(listed.since).toISOString()).toBe(listed.since);
		expect((await admin("GET", "/consumers")).body.find((entry: { consumer: string }) => entry.consumer === "clients")).toEqual({
			consumer: "clients",
			state: "running",
			reason: null,
			since: null,
		});
		// the consumer's, not one replica's: both are paused, and say so in their metrics
		await bothReplicas("paused");
		let pauses = 0;
		for (const node of GOALS) {
			expect(await cluster.counter(node, METRICS.consumerPaused, { consumer: "goals" })).toBe(1);
			pauses += await cluster.counter(node, METRICS.consumerPauses, { consumer: "goals" });
		}
		expect(pauses).toBe(1);
		// readiness says so, and still answers 200: the REST API serves on
		const entry = await goalsEntry();
		expect(entry).toMatchObject({ state: "paused", reason: listed.reason, since: listed.since });
		expect((await rest("GET", "/ready")).status).toBe(200);
		await queueIs((queues) => queues.every((queue) => queue.consumers === 0), "no consumer on the goals queues");

		// the renames that failed are in the retry table (retries wait too); one taken when the pause came was handed back
		const failed = (await retryRowsFor(1, 5)).length;
		expect(failed).toBeGreaterThanOrEqual(1);
		// clients 6..15 renamed meanwhile: their events wait in the queue, nothing is made of them
		for (let id = 6; id <= 15; id++) expect((await rest("PUT", `/clients/${id}`, { name: `Renamed ${id}` })).status).toBe(200);
		console.info(`paused after ${PAUSE_AFTER} consecutive failures: ${failed} of the 5 renames recorded as failed, ${5 - failed} handed back to the queue`);
		const queued = await queueIs((_queues, updated) => updated.messages === 15 - failed, `the ${15 - failed} renames not failed waiting in ${updatedQueue}`);
		expect(queued[updatedQueue].consumers).toBe(0);
		expect(await retryRowsFor(6, 15)).toEqual([]);
		expect((await admin("GET", "/dead-letters?consumer=goals")).body.total).toBe(0);
		expect(await copyNames(6, 15)).toEqual(Array.from({ length: 10 }, (_, i) => `Client ${i + 6}`));
		for (let id = 6; id <= 15; id++) expect((await rest("GET", `/clients/${id}`)).body.name).toBe(`Renamed ${id}`);

		// a replica restarted during the pause starts paused: it takes nothing off the queue
		await cluster.stop("goals-2");
		goals.delete("goals-2");
		await startGoals("goals-2");
		expect((await replicaState("goals-2")).state).toBe("paused");
		expect(await cluster.counter("goals-2", METRICS.consumerPaused, { consumer: "goals" })).toBe(1);
		const afterRestart = await goalsEntry();
		expect(afterRestart.queues[updatedQueue]).toEqual({ messages: 15 - failed, consumers: 0 });

		// fixed, and resumed by an operator: every event applied, each once
		await replFaults(goals.get("goals-1") as NodeProcess, "goals", "none");
		const resumed = await admin("POST", "/consumers/goals/resume");
		expect(resumed.status).toBe(200);
		expect(resumed.body).toMatchObject({ consumer: "goals", state: "running", reason: null });
		await bothReplicas("running");
		await queueIs((queues) => queues.every((queue) => queue.messages === 0 && queue.consumers === 2), "the goals queues drained, consumed by both replicas");
		await copiesConverge(cluster);
		await waitFor(async () => (await retryRowsFor(1, 15)).length === 0, { timeoutMs: 30_000, what: "the failed renames retried and applied" });
		expect(await copyNames(1, 15)).toEqual(Array.from({ length: 15 }, (_, i) => `Renamed ${i + 1}`));
		// one event per client: 15 applied in all (a copy delivered twice is stale, never applied again)
		expect((await appliedOn(["goals-1"])) - appliedBefore + (await appliedOn(["goals-2"]))).toBe(15);
		for (const node of GOALS) expect(await cluster.counter(node, METRICS.consumerPaused, { consumer: "goals" })).toBe(0);
		expect((await goalsEntry()).state).toBe("running");
		expect(answers.filter((answer) => answer.status < 200 || answer.status > 299)).toEqual([]);
	});

	test("an operator pauses and resumes it, by the admin API and by a node's REPL, while REST changes are answered 2xx throughout", async () => {
		const appliedBefore = await appliedOn(GOALS);
		let pausesBefore = 0;
		for (const node of GOALS) pausesBefore += await cluster.counter(node, METRICS.consumerPauses, { consumer: "goals" });
		// REST traffic all along: reads of both services, and writes the goal service does not consume (goals)
		let traffic = true;
		const background = (async () => {
			let n = 0;
			while (traffic) {
				n += 1;
				await rest("GET", "/clients?page=1&pageSize=5");
				await rest("GET", `/clients/${1 + (n % 25)}`);
				const goal = await rest("POST", "/goals", { clientId: 1 + (n % 25), goalName: `Goal ${n}`, targetAmount: n });
				await rest("PUT", `/goals/${goal.body.id}`, { targetAmount: n + 0.5 });
			}
		})();

		try {
			const paused = await admin("POST", "/consumers/goals/pause", { reason: "maintenance window" });
			expect(paused.status).toBe(200);
			expect(paused.body).toEqual({
				consumer: "goals",
				state: "paused",
				reason: `paused by an operator (${adminTokenId(TOKEN)}): maintenance window`,
				since: expect.stringMatching(/Z$/),
			});
			expect(paused.text).not.toContain(TOKEN);
			await bothReplicas("paused");
			await queueIs((queues) => queues.every((queue) => queue.consumers === 0), "no consumer on the goals queues");
			for (let id = 16; id <= 25; id++) expect((await rest("PUT", `/clients/${id}`, { name: `Renamed ${id}` })).status).toBe(200);
			await queueIs((_queues, updated) => updated.messages === 10, "the 10 renames waiting in the queue");
			expect(await copyNames(16, 25)).toEqual(Array.from({ length: 10 }, (_, i) => `Client ${i + 16}`));
			expect(await retryRowsFor(16, 25)).toEqual([]);

			// the REPL of a real node sees the pause, and resumes it
			const repl = goals.get("goals-1") as NodeProcess;
			const list = await replRun(repl, "consumer list", (lines) => lines.some((line) => line.startsWith("clients  ")));
			expect(list).toContain(`goals  paused since ${paused.body.since}: ${paused.body.reason}`);
			expect(list).toContain("clients  running");
			expect(await replRun(repl, "consumer resume goals", (lines) => lines.some((line) => line.startsWith("goals  ")))).toContain("goals  running");
			await bothReplicas("running");
			await queueIs((queues) => queues.every((queue) => queue.messages === 0 && queue.consumers === 2), "the goals queues drained");
			await copiesConverge(cluster);
			expect(await copyNames(16, 25)).toEqual(Array.from({ length: 10 }, (_, i) => `Renamed ${i + 16}`));
			expect((await appliedOn(GOALS)) - appliedBefore).toBe(10);

			// paused from the REPL, with its words; resumed by the admin API
			const byRepl = await replRun(repl, 'consumer pause goals --reason "from the REPL"', (lines) => lines.some((line) => line.startsWith("goals  ")));
			expect(byRepl.find((line) => line.startsWith("goals  "))).toMatch(/^goals {2}paused since \S+Z: paused by an operator \(repl\): from the REPL$/);
			await bothReplicas("paused");
			expect((await goalsEntry()).reason).toBe("paused by an operator (repl): from the REPL");
			expect((await admin("POST", "/consumers/goals/resume")).body.state).toBe("running");
			await bothReplicas("running");
		} finally {
			traffic = false;
			await background;
		}
		let pausesAfter = 0;
		for (const node of GOALS) pausesAfter += await cluster.counter(node, METRICS.consumerPauses, { consumer: "goals" });
		expect(pausesAfter - pausesBefore).toBe(2);
		expect(answers.length).toBeGreaterThan(40);
		expect(answers.filter((answer) => answer.status < 200 || answer.status > 299)).toEqual([]);
	});

	test("an unknown consumer is 404; pausing one twice is answered as it is", async () => {
		expect((await admin("POST", "/consumers/billing/pause")).status).toBe(404);
		expect((await admin("POST", "/consumers/billing/resume")).status).toBe(404);
		expect((await admin("POST", "/consumers/clients/pause", { reason: "x".repeat(201) })).status).toBe(422);
		expect((await admin("POST", "/consumers/clients/pause", { why: "no" })).status).toBe(422);
		const first = await admin("POST", "/consumers/clients/pause");
		const again = await admin("POST", "/consumers/clients/pause");
		expect([first.status, again.status]).toEqual([200, 200]);
		expect(again.body).toMatchObject({ consumer: "clients", state: "paused", reason: `paused by an operator (${adminTokenId(TOKEN)})` });
		expect((await admin("POST", "/consumers/clients/resume")).body).toMatchObject({ consumer: "clients", state: "running" });
		expect((await admin("POST", "/consumers/clients/resume")).body).toMatchObject({ consumer: "clients", state: "running" });
	});
});
