/**
 * The circuit breaker on goal creation's client check (lib/infra/circuit-breaker.ts), with real
 * processes. The client node is frozen (SIGSTOP), so calls to it hang as on a stuck node instead
 * of failing fast as on a stopped one. Once the breaker is open goal creation answers from the
 * goal service's own copy of the clients at once, without calling the client service; once the
 * client node is back (SIGCONT) the check goes to it again within the half-open window.
 */
import { Cluster } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { type NodeProcess, replFaults } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

/** CLIENT_CHECK_TIMEOUT of the goals node: short, to keep the test short */
const CHECK_TIMEOUT_MS = 300;
/** moleculer.config.ts BREAKER */
const MIN_REQUEST_COUNT = 5;
const HALF_OPEN_MS = 5_000;
/** "fails fast": the whole HTTP round trip (see `budget`) */
const FAST_MS = 50;
/** requests of each kind measured, healthy and open */
const SAMPLES = 5;
/** an id no client will ever have */
const NEVER_A_CLIENT = 2_000_000_000;

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.floor(sorted.length / 2)];
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "circuit breaker on the goals → clients check", () => {
	const cluster = new Cluster();
	let api: ReturnType<typeof client>;
	let clientsNode: NodeProcess;
	let goalsNode: NodeProcess;

	/** POST /goals for a client: its status and the HTTP round trip in ms. */
	async function createGoal(clientId: number): Promise<{ status: number; ms: number; body: any }> {
		const started = performance.now();
		const res = await api.post("/goals", { clientId, goalName: "Breaker", targetAmount: 100 });
		return { status: res.status, ms: performance.now() - started, body: res.body };
	}

	async function createClient(tag: string): Promise<number> {
		const res = await api.post("/clients", { name: tag, email: `${tag}-${Date.now()}@example.com` });
		expect(res.status).toBe(201);
		return res.body.id as number;
	}

	/** Wait until the goal service's copy of a client (from client.* events) says `deleted`. */
	async function copyOf(clientId: number, deleted: boolean): Promise<void> {
		await waitFor(
			async () => {
				const rows = await cluster.query<{ deleted: boolean }>("goals", `SELECT deleted FROM client_projection WHERE "clientId" = ${clientId}`);
				return rows[0]?.deleted === deleted;
			},
			{ timeoutMs: 10_000, intervalMs: 100, what: `the goal service's copy of client ${clientId} (deleted: ${deleted})` },
		);
	}

	/** clients.lookup calls the goals node has made (Moleculer's own request counter). */
	async function lookupsMade(): Promise<number> {
		const list = (await cluster.probe.call("$node.metrics", { includes: ["moleculer.request.total"] }, { nodeID: "goals-1" })) as Array<{
			values: Array<{ labels: Record<string, string>; value: number }>;
		}>;
		return list
			.flatMap((metric) => metric.values)
			.filter((v) => v.labels.action === "clients.lookup")
			.reduce((sum, v) => sum + v.value, 0);
	}

	/** How often the goals node has opened the circuit so far. */
	function openings(): number {
		return goalsNode.output().split("Client check circuit opened").length - 1;
	}

	function resume(): void {
		const pid = clientsNode?.child.pid;
		if (pid !== undefined && clientsNode.child.exitCode === null) process.kill(pid, "SIGCONT");
	}

	beforeAll(async () => {
		await cluster.setUp();
		clientsNode = await cluster.start("clients-1", "clients");
		// FAULT_INJECTION (no rule yet) lets the test stop the goals node learning new clients, through
		// the node's own REPL (the faults action is private: no other node can call it)
		goalsNode = await cluster.start(
			"goals-1",
			"goals",
			{ CLIENT_CHECK_TIMEOUT: String(CHECK_TIMEOUT_MS), FAULT_INJECTION: "1", LOG_LEVEL: "info" },
			{ repl: true },
		);
		api = client(await cluster.startApi("api-1"));
	}, 90_000);

	afterAll(async () => {
		// never leave a process frozen, whatever failed
		resume();
		await cluster.tearDown();
	}, 60_000);

	test("client node hung: it opens at the threshold, answers from the copy without calling the client service, and closes within the half-open window once the node is back", async () => {
		// A client the goal service's copy knows alive and one it knows deleted, learned from
		// events alone: no client check has been made yet, so the breaker's window is empty.
		const alive = await createClient("alive");
		const deleted = await createClient("deleted");
		expect((await api.del(`/clients/${deleted}`)).status).toBe(204);
		await copyOf(alive, false);
		await copyOf(deleted, true);

		// The same request, healthy, for the time budget below; these are SAMPLES successful checks
		// in the breaker's window, so the window holds 2 * SAMPLES calls when SAMPLES timeouts make half.
		const healthy: number[] = [];
		for (let i = 0; i < SAMPLES; i++) {
			const res = await createGoal(alive);
			expect(res.status).toBe(201);
			healthy.push(res.ms);
		}
		// for the printed comparison: an answer from the copy should take about as long as these
		const budget = Math.max(FAST_MS, median(healthy));

		process.kill(clientsNode.child.pid as number, "SIGSTOP");
		try {
			const frozenAt = Date.now();

			// Closed, each check waits for its timeout, then the copy answers (201). At the threshold
			// (at least 5 calls, half of them failed) it opens: the next answer makes no check (the
			// goals node's count of clients.lookup calls stands still; no clock involved).
			const slow: number[] = [];
			let first: number | undefined;
			// it opened during the last slow request, when its check timed out, and before it answered
			let openedAt = { earliest: 0, latest: 0 };
			while (first === undefined && slow.length < 2 * MIN_REQUEST_COUNT) {
				const lookups = await lookupsMade();
				const started = Date.now();
				const res = await createGoal(alive);
				expect(res.status).toBe(201);
				if ((await lookupsMade()) === lookups) first = res.ms;
				else {
					slow.push(res.ms);
					openedAt = { earliest: started + CHECK_TIMEOUT_MS, latest: Date.now() };
				}
			}
			expect(slow).toHaveLength(Math.max(MIN_REQUEST_COUNT - SAMPLES, SAMPLES));
			await waitFor(() => openings() === 1, { what: `the goals node to log the opening\n${goalsNode.output()}` });

			// Open: the contract's three answers from the copy, without a call to clients.lookup (the
			// proof), so none waits for a check, which would take CHECK_TIMEOUT_MS.
			const lookupsBefore = await lookupsMade();
			expect(lookupsBefore).toBeGreaterThanOrEqual(MIN_REQUEST_COUNT); // the counter does see the checks
			const answers: Array<{ who: string; status: number; ms: number }> = [];
			for (let i = 0; i < SAMPLES; i++) {
				for (const [who, id] of [
					["alive", alive],
					["deleted", deleted],
					["unknown", NEVER_A_CLIENT],
				] as const) {
					const { status, ms } = await createGoal(id);
					answers.push({ who, status, ms });
				}
			}
			expect(Date.now() - openedAt.earliest).toBeLessThan(HALF_OPEN_MS); // no probe can have run
			expect(answers.map(({ who, status }) => [who, status])).toEqual(
				Array.from({ length: SAMPLES }, () => [
					["alive", 201],
					["deleted", 422],
					["unknown", 503],
				]).flat(),
			);
			// no answer made a check (so none waited for one); how fast they were depends on the
			// machine's load, so it is printed below, not asserted
			expect(await lookupsMade()).toBe(lookupsBefore);

			// From now on the goal service learns no new client from events, so a client created now
			// is known to the client service only: a 201 for it proves the check asked it again.
			await replFaults(goalsNode, "goals", "apply:all:always");
			resume();
			const resumedAt = Date.now();
			const fresh = await createClient("fresh");

			// Still open until the half-open time is up: unknown to the copy, so 503 at once. Then one
			// probe reaches the client service, which knows the client: 201, and the circuit closes.
			const whileOpen: Array<{ status: number; ms: number }> = [];
			const accepted = await waitFor(
				async () => {
					const res = await createGoal(fresh);
					if (res.status === 201) return { at: Date.now(), ms: res.ms };
					whileOpen.push({ status: res.status, ms: res.ms });
					return null;
				},
				{ timeoutMs: HALF_OPEN_MS + 5_000, intervalMs: 200, what: `a goal for client ${fresh} to be accepted\n${cluster.logs()}` },
			);
			// 503: answered from the copy, which does not know the client; a check would have found it
			expect(whileOpen.map(({ status }) => status)).toEqual(whileOpen.map(() => 503));
			// never before the half-open time; after it, as soon as the next request came (every 200 ms)
			expect(accepted.at - openedAt.earliest).toBeGreaterThanOrEqual(HALF_OPEN_MS);
			await waitFor(() => goalsNode.output().includes("Client check circuit closed"), { what: "the goals node to log the closing" });

			// Closed: the client service answers again (an unknown id is its 422, not the copy's 503).
			expect((await createGoal(NEVER_A_CLIENT)).status).toBe(422);
			expect(openings()).toBe(1);

			console.log(
				`circuit breaker: healthy goal creation ${healthy.map(Math.round).join(", ")} ms (budget ${Math.round(budget)} ms); opened after ${slow.length} checks of ${slow.map(Math.round).join(", ")} ms ` +
					`(${openedAt.latest - frozenAt} ms after the freeze); open answers ${[first as number, ...answers.map((a) => a.ms)].map(Math.round).join(", ")} ms ` +
					`(alive, deleted, unknown); ` +
					`resumed ${resumedAt - openedAt.latest} ms after opening; then 503 in ${whileOpen.map(({ ms }) => Math.round(ms)).join(", ")} ms, then 201 ` +
					`${accepted.at - openedAt.latest} ms after opening (${Math.round(accepted.ms)} ms)`,
			);
		} finally {
			resume();
			await replFaults(goalsNode, "goals", "none").catch(() => undefined);
		}
	});

	test("4xx answers do not open it: unknown clients and invalid requests keep getting the client service's 422", async () => {
		// from a closed circuit (the test before closes it; if it failed, this waits for the half-open time)
		await waitFor(async () => (await createGoal(NEVER_A_CLIENT)).status === 422, {
			timeoutMs: HALF_OPEN_MS + 2_000,
			intervalMs: 250,
			what: "the client check to reach the client service",
		});
		const openingsBefore = openings();
		for (let i = 1; i <= 2 * MIN_REQUEST_COUNT; i++) {
			// clients.lookup answers null: the client service's word, not a failure
			expect((await createGoal(NEVER_A_CLIENT - i)).status).toBe(422);
			// rejected by validation (422) before any check
			expect((await api.post("/goals", { clientId: "x", goalName: "", targetAmount: -1 })).status).toBe(422);
		}
		// open, an id unknown to the goal service's copy would be 503, not the client service's 422
		const after = await createGoal(NEVER_A_CLIENT);
		expect(after.status).toBe(422);
		expect(after.body.data).toEqual([expect.objectContaining({ type: "clientNotFound", field: "clientId" })]);
		expect(openings()).toBe(openingsBefore);
	});
});
