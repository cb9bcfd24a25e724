/**
 * A failing handler is retried with backoff (1 s, then 2 s; 3 attempts in all), then kept as a
 * dead letter that the admin API and the REPL list and retry; other events keep flowing
 * meanwhile, and a pending retry survives a restart.
 *
 * Failures come from the test-only fault injection (FAULT_INJECTION=1, rules changed at
 * runtime through the private `goals.faults` action, in this process): in the goal service the entity ids are
 * client ids, so a rename of that client fails in the goal service's consumer.
 *
 * Without a transporter a PUT resolves once the local event handlers have finished, so the
 * first failure is recorded by the time the PUT's answer arrives. Each test runs its own broker:
 * the metrics it reads count that test's events only.
 */
import path from "node:path";
import type { Sequelize } from "sequelize";
import { QueryTypes } from "sequelize";
import { METRICS } from "../../lib/constants";
import { FaultInjector, type FaultRules } from "../../lib/infra/faults";
import { setFaults as setServiceFaults } from "../../lib/infra/fault-commands";
import { replCommands } from "../../lib/consumer/repl-commands";
import { createNode } from "../../bin/node";
import { whenListening } from "../../mixins/listen-when-started.mixin";
import { loadConfig } from "../../moleculer.config";
import { client, request } from "../helpers/http";
import { checkpointOf, lastSequenceOf, querySqlite, withSqlite } from "../helpers/sqlite";
import { removeDir, tempDataDir, type TestSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const TOKEN = "t0ken-for-retries-0f-32-characters-or-more";
const running = new Set<TestSystem>();
const dirs: string[] = [];

/**
 * startSystem's node, except that it waits for the goal service's catch-up on start to finish.
 * That catch-up runs once the client service is registered, whenever that is; reading its
 * checkpoint before a failing live event commits and the log after, it would attempt that
 * event once more, outside the retry schedule (an extra failure counted, an injected failure
 * used up). The test cannot see when it has happened from the outside, so it watches the
 * call from before the start.
 */
async function start(env: Record<string, string>, dataDir?: string): Promise<TestSystem> {
	const dir = dataDir ?? tempDataDir();
	if (!dirs.includes(dir)) dirs.push(dir);
	const config = loadConfig({
		PORT: "0",
		// failures are logged on purpose; keep the output for real problems
		LOG_LEVEL: "fatal",
		// no periodic catch-up during a test, for the same reason
		CATCHUP_INTERVAL: "3600000",
		// the schedule itself (1 s, then 2 s), so that "never early" is checked against it; the
		// jittered one is retry-schedule.test.ts's (injected draws) and cluster/retry-jitter.test.ts's
		RETRY_JITTER: "0",
		CLIENTS_DB_URI: `sqlite:${path.join(dir, "clients.sqlite")}`,
		GOALS_DB_URI: `sqlite:${path.join(dir, "goals.sqlite")}`,
		...env,
	});
	const broker = createNode(config);
	const goals = broker.getLocalService("goals") as unknown as { requestCatchUp(reason: string): Promise<void> };
	const requestCatchUp = goals.requestCatchUp;
	let startCatchUp: Promise<void> | undefined;
	goals.requestCatchUp = (reason: string) => {
		const run = requestCatchUp.call(goals, reason);
		if (reason === "start") startCatchUp = run;
		return run;
	};
	await broker.start();
	const address = await whenListening(broker);
	const system: TestSystem = {
		broker,
		url: `http://127.0.0.1:${address?.port}/api`,
		dataDir: dir,
		stop: () => broker.stop(),
	};
	running.add(system);
	await (await waitFor(() => startCatchUp && { startCatchUp }, { timeoutMs: 2000, what: "the catch-up on start" })).startCatchUp;
	return system;
}

async function stop(system: TestSystem): Promise<void> {
	running.delete(system);
	await system.stop();
}

afterEach(async () => {
	jest.restoreAllMocks();
	for (const system of [...running]) await stop(system);
});

afterAll(() => {
	for (const dir of dirs) removeDir(dir);
});

type Api = ReturnType<typeof client>;

interface RetryRow {
	id: number;
	eventId: string;
	sequence: number;
	attempts: number;
	status: "pending" | "dead";
	lastError: string;
	payload: string;
	requestId: string | null;
}

function retryRows(dataDir: string, db: "goals" | "clients" = "goals"): Promise<RetryRow[]> {
	return querySqlite<RetryRow>(dataDir, db, "SELECT * FROM event_retries ORDER BY id");
}

/** The value of one of our counters for one producer (0 when never incremented). */
async function counter(system: TestSystem, name: string, producer: "clients" | "goals" = "clients"): Promise<number> {
	const metrics = await system.broker.call<Array<{ name: string; values: Array<{ labels: Record<string, string>; value: number }> }>, unknown>(
		"$node.metrics",
		{ includes: [name] },
	);
	const metric = metrics.find((item) => item.name === name);
	const value = metric?.values.find((item) => item.labels.producer === producer);
	return value?.value ?? 0;
}

async function counters(system: TestSystem, producer: "clients" | "goals" = "clients") {
	return {
		failed: await counter(system, METRICS.eventsFailed, producer),
		retried: await counter(system, METRICS.eventsRetried, producer),
		deadLettered: await counter(system, METRICS.eventsDeadLettered, producer),
	};
}

function setFaults(system: TestSystem, rules: Partial<FaultRules>) {
	return setServiceFaults(system.broker, "goals", rules);
}

async function createClientWithGoal(api: Api, name: string, email: string) {
	const created = await api.post("/clients", { name, email });
	expect(created.status).toBe(201);
	const goal = await api.post("/goals", { clientId: created.body.id, goalName: `${name}'s goal`, targetAmount: 10 });
	expect(goal.status).toBe(201);
	return { clientId: created.body.id as number, goalId: goal.body.id as number };
}

async function goalName(api: Api, goalId: number): Promise<string> {
	const res = await api.get(`/goals/${goalId}`);
	expect(res.status).toBe(200);
	return res.body.clientName;
}

/** The goal service has consumed every client event there is. */
async function goalsCaughtUp(dataDir: string): Promise<void> {
	await waitFor(async () => (await checkpointOf(dataDir, "goals", "clients")) === (await lastSequenceOf(dataDir, "clients")), {
		timeoutMs: 2000,
		what: "the goal service's checkpoint at the end of the client log",
	});
}

function admin(system: TestSystem) {
	const headers = { authorization: `Bearer ${TOKEN}` };
	return {
		/** the first page's rows as `body` (the page itself is test/integration/bounds.test.ts's) */
		list: async () => {
			const res = await request("GET", `${system.url}/admin/dead-letters?pageSize=100`, undefined, { headers });
			return { ...res, body: res.status === 200 ? res.body.rows : res.body };
		},
		retry: (id: string) => request("POST", `${system.url}/admin/dead-letters/${id}/retry`, undefined, { headers }),
	};
}

test("a handler failing twice is applied on attempt 3, about 1 s and 3 s after the first failure", async () => {
	const system = await start({ FAULT_INJECTION: "1" });
	const api = client(system.url);
	const { clientId, goalId } = await createClientWithGoal(api, "Ann", "ann.retry@example.com");
	await goalsCaughtUp(system.dataDir);
	expect(await counters(system)).toEqual({ failed: 0, retried: 0, deadLettered: 0 });

	await setFaults(system, { apply: { entities: [clientId], times: 2 } });
	const renamedAt = Date.now();
	expect((await api.put(`/clients/${clientId}`, { name: "Ann Two" })).status).toBe(200);
	await goalsCaughtUp(system.dataDir);

	// the first delivery failed: recorded with attempts 1, not applied, the checkpoint moved on
	const [first] = await retryRows(system.dataDir);
	expect(first).toMatchObject({ attempts: 1, status: "pending" });
	expect(first.lastError).toContain("Injected fault for entity");
	expect(JSON.parse(first.payload)).toMatchObject({ eventType: "UPDATED", clientId, clientName: "Ann Two", version: 2 });
	expect(await goalName(api, goalId)).toBe("Ann");
	expect(await checkpointOf(system.dataDir, "goals", "clients")).toBe(await lastSequenceOf(system.dataDir, "clients"));

	// Watch the row on one connection of our own: when it reaches attempts 2, when it is gone.
	let secondAttemptAt = 0;
	let appliedAt = 0;
	await withSqlite(system.dataDir, "goals", (sequelize: Sequelize) =>
		waitFor(
			async () => {
				const rows = await sequelize.query<RetryRow>("SELECT attempts, status FROM event_retries WHERE id = :id", {
					type: QueryTypes.SELECT,
					replacements: { id: first.id },
				});
				if (rows.length === 0) {
					appliedAt = Date.now();
					return true;
				}
				expect(rows[0].status).toBe("pending");
				if (rows[0].attempts >= 2 && secondAttemptAt === 0) secondAttemptAt = Date.now();
				return false;
			},
			{ timeoutMs: 6000, intervalMs: 10, what: "the retry to succeed" },
		),
	);
	const second = (secondAttemptAt - renamedAt) / 1000;
	const third = (appliedAt - renamedAt) / 1000;
	// the measured schedule, for whoever reads the test output
	console.info(`retry schedule: attempt 2 at ${second.toFixed(3)} s, attempt 3 (applied) at ${third.toFixed(3)} s`);
	// Never early; how late depends on the machine's load, so no upper bound here: the exact
	// schedule is checked against an injected clock in retry-schedule.test.ts.
	expect(secondAttemptAt).toBeGreaterThan(0);
	expect(second).toBeGreaterThanOrEqual(0.95);
	expect(third).toBeGreaterThanOrEqual(2.95);

	await waitFor(async () => (await goalName(api, goalId)) === "Ann Two", { timeoutMs: 1000, what: "the goal to show the new name" });
	// every failure is counted (the live one and attempt 2), every retry attempt too (2 and 3)
	expect(await counters(system)).toEqual({ failed: 2, retried: 2, deadLettered: 0 });
	expect(await retryRows(system.dataDir)).toEqual([]);
});

test("a handler failing always is dead-lettered after 3 attempts while 100 other events flow; an operator's retry applies it", async () => {
	const system = await start({ FAULT_INJECTION: "1", ADMIN_TOKEN: TOKEN });
	const api = client(system.url);
	const dlq = admin(system);
	const stuck = await createClientWithGoal(api, "Stuck", "stuck@example.com");
	const others: Array<{ clientId: number; goalId: number }> = [];
	for (let i = 0; i < 100; i++) others.push(await createClientWithGoal(api, `Other ${i}`, `other${i}@example.com`));
	await goalsCaughtUp(system.dataDir);
	const appliedBefore = await counter(system, METRICS.eventsApplied);

	await setFaults(system, { apply: { entities: [stuck.clientId], times: "always" } });
	const renamedAt = Date.now();
	const stuckRename = await api.put(`/clients/${stuck.clientId}`, { name: "Stuck Renamed" });
	expect(stuckRename.status).toBe(200);
	await goalsCaughtUp(system.dataDir);
	const [row] = await retryRows(system.dataDir);
	expect(row).toMatchObject({ attempts: 1, status: "pending" });

	// 100 other clients renamed, 10 at a time, while the stuck event waits for its retries: each
	// rename shows in the goal projection (polled, since the PUT is answered after its own commit,
	// not after the consumer's), and the lag from PUT to projection is printed.
	const queue = [...others];
	const lags: number[] = [];
	let beforeDeadLetter = 0;
	await Promise.all(
		Array.from({ length: 10 }, async () => {
			for (let next = queue.shift(); next; next = queue.shift()) {
				const name = `Renamed ${next.clientId}`;
				const stuckPending = (await retryRows(system.dataDir))[0].status === "pending";
				expect((await api.put(`/clients/${next.clientId}`, { name })).status).toBe(200);
				const putAt = Date.now();
				await waitFor(async () => (await goalName(api, next.goalId)) === name, { what: `the rename of client ${next.clientId}` });
				lags.push(Date.now() - putAt);
				if (stuckPending) beforeDeadLetter += 1;
			}
		}),
	);
	console.info(
		`100 other renames done ${Date.now() - renamedAt} ms after the stuck rename; lag from PUT to projection max ${Math.max(...lags)} ms; ${beforeDeadLetter} started while the stuck event was still pending`,
	);
	expect(lags).toHaveLength(100);
	// at least the first renames certainly ran while the stuck event was still being retried
	expect(beforeDeadLetter).toBeGreaterThanOrEqual(10);
	expect(await goalName(api, stuck.goalId)).toBe("Stuck");
	await waitFor(async () => (await counter(system, METRICS.eventsApplied)) === appliedBefore + 100, { what: "100 applied events counted" });
	// the projection as the list shows it: all 100 new names
	const names = new Map<number, string>();
	for (let page = 1; page <= 2; page++) {
		const res = await api.get(`/goals?page=${page}&pageSize=100`);
		expect(res.status).toBe(200);
		for (const goal of res.body.rows) names.set(goal.clientId, goal.clientName);
	}
	expect(others.filter((other) => names.get(other.clientId) !== `Renamed ${other.clientId}`)).toEqual([]);

	// the third attempt fails at ~3 s: a dead letter, listed by the admin API
	const listed = await waitFor(
		async () => {
			const res = await dlq.list();
			expect(res.status).toBe(200);
			return res.body.length > 0 ? res.body : null;
		},
		{ timeoutMs: 6000, intervalMs: 20, what: "the dead letter" },
	);
	const deadAfter = (Date.now() - renamedAt) / 1000;
	console.info(`dead-lettered (seen through the admin API) ${deadAfter.toFixed(3)} s after the rename`);
	// never before the schedule (1 s + 2 s)
	expect(deadAfter).toBeGreaterThanOrEqual(2.95);
	const id = `goals-${row.id}`;
	expect(listed).toHaveLength(1);
	expect(Object.keys(listed[0]).sort()).toEqual(["attempts", "consumer", "event", "failedAt", "id", "lastError", "producer", "requestId", "state"]);
	// the request that caused it: the rename's X-Request-ID, kept in the retry row since its first failure
	expect(listed[0]).toMatchObject({
		id,
		consumer: "goals",
		producer: "clients",
		attempts: 3,
		state: "dead",
		requestId: stuckRename.headers.get("x-request-id"),
	});
	expect(row.requestId).toBe(stuckRename.headers.get("x-request-id"));
	expect(listed[0].lastError).toContain(`Injected fault for entity ${stuck.clientId}`);
	expect(new Date(listed[0].failedAt).toISOString()).toBe(listed[0].failedAt);
	expect(listed[0].event).toEqual(JSON.parse(row.payload));
	expect(listed[0].event).toMatchObject({ eventType: "UPDATED", source: "clients", clientId: stuck.clientId, clientName: "Stuck Renamed", version: 2 });
	expect(await goalName(api, stuck.goalId)).toBe("Stuck");
	expect(await counters(system)).toEqual({ failed: 3, retried: 2, deadLettered: 1 });
	// a dead letter stays put: no more attempts on its own
	expect((await retryRows(system.dataDir))[0]).toMatchObject({ attempts: 3, status: "dead" });

	// the fault is repaired; the operator retries
	await setFaults(system, { apply: null });
	const retried = await dlq.retry(id);
	expect(retried.status).toBe(200);
	expect(retried.body).toMatchObject({ id, consumer: "goals", producer: "clients", event: listed[0].event });
	await waitFor(async () => (await goalName(api, stuck.goalId)) === "Stuck Renamed", {
		timeoutMs: 1500,
		what: "the retried event to be applied",
	});
	await waitFor(async () => (await dlq.list()).body.length === 0, { timeoutMs: 1000, what: "an empty dead-letter list" });
	// kept as replayed (for DEAD_LETTER_RETENTION_DAYS), no longer pending or dead
	expect((await retryRows(system.dataDir)).map((row) => [row.id, row.status])).toEqual([[row.id, "replayed"]]);
	expect(await counters(system)).toEqual({ failed: 3, retried: 3, deadLettered: 1 });
	// it is no dead letter any more
	expect((await dlq.retry(id)).status).toBe(404);
});

test("a revived dead letter that fails again gets a fresh set of 3 attempts", async () => {
	const system = await start({ FAULT_INJECTION: "1", ADMIN_TOKEN: TOKEN });
	const api = client(system.url);
	const dlq = admin(system);
	const { clientId, goalId } = await createClientWithGoal(api, "Eve", "eve.again@example.com");
	await goalsCaughtUp(system.dataDir);

	await setFaults(system, { apply: { entities: [clientId], times: "always" } });
	expect((await api.put(`/clients/${clientId}`, { name: "Eve Two" })).status).toBe(200);
	const [letter] = await waitFor(async () => ((await dlq.list()).body as unknown[]).length === 1 && (await dlq.list()).body, {
		timeoutMs: 6000,
		what: "the first dead letter",
	});

	// still failing: the retry starts now and is dead again only after 3 more attempts (~3 s)
	const revivedAt = Date.now();
	expect((await dlq.retry(letter.id)).status).toBe(200);
	await waitFor(async () => (await retryRows(system.dataDir))[0]?.attempts >= 1, { timeoutMs: 1000, what: "the first new attempt" });
	expect((await retryRows(system.dataDir))[0].status).toBe("pending");
	expect((await dlq.list()).body).toEqual([]);
	const again = await waitFor(async () => ((await dlq.list()).body as unknown[]).length === 1 && (await dlq.list()).body, {
		timeoutMs: 6000,
		intervalMs: 20,
		what: "the second dead letter",
	});
	const deadAgainAfter = (Date.now() - revivedAt) / 1000;
	// attempts 1 (now), 2 (1 s later), 3 (2 s after that): never sooner
	expect(deadAgainAfter).toBeGreaterThanOrEqual(2.95);
	expect(again[0]).toMatchObject({ id: letter.id, attempts: 3 });
	expect(await goalName(api, goalId)).toBe("Eve");
	expect(await counters(system)).toEqual({ failed: 6, retried: 5, deadLettered: 2 });
});

test("a pending retry survives a restart and is applied by the next broker", async () => {
	const first = await start({ FAULT_INJECTION: "1" });
	const dataDir = first.dataDir;
	let api = client(first.url);
	const { clientId, goalId } = await createClientWithGoal(api, "Dan", "dan.restart@example.com");
	await goalsCaughtUp(dataDir);

	// always failing, so that whatever attempt runs before the stop also fails
	await setFaults(first, { apply: { entities: [clientId], times: "always" } });
	expect((await api.put(`/clients/${clientId}`, { name: "Dan Two" })).status).toBe(200);
	await goalsCaughtUp(dataDir);
	expect((await retryRows(dataDir))[0]).toMatchObject({ status: "pending" });
	await stop(first);

	// stopped before the retries ran out: the row is on disk, pending, past the checkpoint
	const [kept] = await retryRows(dataDir);
	expect(kept.status).toBe("pending");
	expect(kept.attempts).toBeLessThan(3);
	expect(await checkpointOf(dataDir, "goals", "clients")).toBe(await lastSequenceOf(dataDir, "clients"));

	// no fault injection on the next broker
	const second = await start({}, dataDir);
	api = client(second.url);
	await waitFor(async () => (await goalName(api, goalId)) === "Dan Two", { timeoutMs: 3000, what: "the retry after the restart" });
	expect(await retryRows(dataDir)).toEqual([]);
	// applied by the retry, not by catch-up (the checkpoint was already past it)
	expect(await counters(second)).toEqual({ failed: 0, retried: 1, deadLettered: 0 });
	expect(await counter(second, METRICS.eventsApplied)).toBe(1);
});

test("the REPL's dlq command lists and retries dead letters", async () => {
	const system = await start({ FAULT_INJECTION: "1" });
	const api = client(system.url);
	const { clientId, goalId } = await createClientWithGoal(api, "Fay", "fay.repl@example.com");
	await goalsCaughtUp(system.dataDir);
	const [dlq] = replCommands;
	expect(dlq.command).toMatch(/^dlq /);
	const output: string[] = [];
	// console is the REPL's output, not the system under test
	jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
		output.push(args.map(String).join(" "));
	});
	const run = async (args: Record<string, string>) => {
		output.length = 0;
		await dlq.action(system.broker, args as unknown as string[], {});
		return [...output];
	};

	expect(await run({ verb: "list" })).toEqual(["No dead letters."]);

	await setFaults(system, { apply: { entities: [clientId], times: "always" } });
	expect((await api.put(`/clients/${clientId}`, { name: "Fay Two" })).status).toBe(200);
	await goalsCaughtUp(system.dataDir);
	const [row] = await retryRows(system.dataDir);
	await waitFor(async () => (await retryRows(system.dataDir))[0]?.status === "dead", { timeoutMs: 20_000, what: "the dead letter" });
	const sequence = JSON.parse(row.payload).sequence;

	const listed = await run({ verb: "list" });
	expect(listed).toHaveLength(1);
	expect(listed[0]).toMatch(
		new RegExp(`^goals-${row.id}  clients #${sequence} UPDATED v2  attempts 3  \\S+Z  InjectedFaultError: Injected fault for entity ${clientId}$`),
	);

	expect(await run({ verb: "retry", id: "nonsense" })).toEqual(["dlq retry failed: Dead letter 'nonsense' not found"]);
	expect(await run({ verb: "retry", id: "clients-0" })).toEqual(["dlq retry failed: Dead letter 'clients-0' not found"]);
	const usage: Array<Record<string, string>> = [{ verb: "retry" }, { verb: "bogus" }, { verb: "list", id: "0" }];
	for (const args of usage) expect((await run(args))[0]).toMatch(/^Usage: dlq list \[page\]/);

	await setFaults(system, { apply: null });
	expect(await run({ verb: "retry", id: `goals-${row.id}` })).toEqual([`goals-${row.id} queued for retry now.`]);
	await waitFor(async () => (await goalName(api, goalId)) === "Fay Two", { timeoutMs: 1500, what: "the retried event to be applied" });
	expect(await run({ verb: "list" })).toEqual(["No dead letters."]);
	expect(await run({ verb: "retry", id: `goals-${row.id}` })).toEqual([`dlq retry failed: Dead letter 'goals-${row.id}' not found`]);
	// kept as replayed, and listed as such
	expect(await run({ verb: "list", options: { state: "replayed" } } as unknown as Record<string, string>)).toEqual([
		expect.stringMatching(new RegExp(`^goals-${row.id}  clients #${sequence} UPDATED v2  attempts \\d  \\S+Z  InjectedFaultError: .*  \\[replayed\\]$`)),
	]);
});

test("each service counts its own injected failures, even when FAULT_RULES names the same id for both", async () => {
	// one rule from the environment: client 1 in the goal service, goal 1 in the client service
	const config = loadConfig({ FAULT_INJECTION: "1", FAULT_RULES: "apply:1:1" });
	const inGoals = new FaultInjector(config.goals.faults!);
	const inClients = new FaultInjector(config.clients.faults!);
	expect(() => inGoals.checkApply(1)).toThrow("Injected fault for entity 1");
	expect(() => inClients.checkApply(1)).toThrow("Injected fault for entity 1");
	expect(() => inGoals.checkApply(1)).not.toThrow();

	// and so on real brokers: client 1's CREATED fails once in the goal service, goal 1's CREATED once in the client service
	const system = await start({ FAULT_INJECTION: "1", FAULT_RULES: "apply:1:1" });
	const api = client(system.url);
	const { clientId, goalId } = await createClientWithGoal(api, "Gil", "gil.faults@example.com");
	expect([clientId, goalId]).toEqual([1, 1]);
	await waitFor(async () => (await counter(system, METRICS.eventsFailed, "clients")) === 1 && (await counter(system, METRICS.eventsFailed, "goals")) === 1, {
		what: "one injected failure counted by each service",
	});
	// both retried (due after ~1 s; a deadline, not a window: a loaded machine takes longer), and then the client shows its goal
	await waitFor(async () => (await retryRows(system.dataDir, "goals")).length === 0 && (await retryRows(system.dataDir, "clients")).length === 0, {
		timeoutMs: 15_000,
		what: "both retries to succeed",
	});
	expect((await api.get(`/clients/${clientId}`)).body.goals).toEqual([{ id: goalId, goalName: "Gil's goal", targetAmount: 10 }]);
	expect(await counter(system, METRICS.eventsRetried, "clients")).toBe(1);
	expect(await counter(system, METRICS.eventsRetried, "goals")).toBe(1);
});
