/**
 * Catch-up at volume: a goal service that was down while the client service made 20,000
 * changes converges to exactly the client service's state, page by page; an event that fails
 * inside a page goes to the retry table alone while the rest of its page is applied, and is
 * applied on its retry.
 */
import { METRICS } from "../../lib/constants";
import { setFaults } from "../../lib/infra/fault-commands";
import { checkpointOf, lastSequenceOf, querySqlite } from "../helpers/sqlite";
import { removeDir, startSystem, tempDataDir, type TestSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

jest.setTimeout(180_000);

const CLIENTS = 2_000;
const CHANGES = 20_000;
/** created and never changed again: its one event is the one that fails */
const FAILING_CLIENT = 1_234;

const dataDir = tempDataDir();
const running: TestSystem[] = [];

afterAll(async () => {
	for (const system of running) await system.stop();
	removeDir(dataDir);
});

async function counter(system: TestSystem, name: string): Promise<number> {
	const metrics = await system.broker.call<Array<{ name: string; values: Array<{ labels: Record<string, string>; value: number }> }>, unknown>(
		"$node.metrics",
		{ includes: [name] },
	);
	return metrics.find((item) => item.name === name)?.values.find((item) => item.labels.producer === "clients")?.value ?? 0;
}

interface Copy {
	id: number;
	name: string;
	email: string;
	version: number;
	deleted: number;
}

const producerState = () =>
	querySqlite<Copy>(dataDir, "clients", `SELECT id, name, email, version, CASE WHEN "deletedAt" IS NULL THEN 0 ELSE 1 END AS deleted FROM clients ORDER BY id`);
const consumerCopy = () =>
	querySqlite<Copy>(dataDir, "goals", `SELECT "clientId" AS id, name, email, version, deleted FROM client_projection ORDER BY "clientId"`);

test(`a goal service that missed ${CHANGES} client changes converges to exactly the client service's state; a failing event is retried alone`, async () => {
	// the goal service ran once, on an empty log: it has a checkpoint (0), so it replays the log
	// when it is back (a consumer with none would start from the snapshot: snapshot.test.ts)
	const before = await startSystem({ dataDir, env: { SERVICES: "clients,goals", LOG_LEVEL: "error" } });
	running.push(before);
	await waitFor(async () => (await querySqlite(dataDir, "goals", "SELECT sequence FROM checkpoints")).length === 1, {
		what: "the goal service's checkpoint row",
	});
	await before.stop();
	running.pop();

	// the client service alone: nobody consumes its events, they wait in its log
	const producer = await startSystem({ dataDir, env: { SERVICES: "clients", LOG_LEVEL: "error" } });
	running.push(producer);
	let next = 0;
	await Promise.all(
		Array.from({ length: 20 }, async () => {
			for (let i = next++; i < CHANGES; i = next++) {
				if (i < CLIENTS) {
					await producer.broker.call("clients.create", { name: `Client ${i + 1}`, email: `c${i + 1}@catch.up` });
				} else {
					// renames spread over every client but the failing one and the first 20, which are deleted at the end
					let id = ((i * 7) % CLIENTS) + 1;
					if (id === FAILING_CLIENT || id <= 20) id += 20;
					if (i >= CHANGES - 20) await producer.broker.call("clients.remove", { id: CHANGES - i });
					else await producer.broker.call("clients.update", { id, name: `Client ${id} v${i}` });
				}
			}
		}),
	);
	const last = await lastSequenceOf(dataDir, "clients");
	expect(last).toBeGreaterThanOrEqual(CHANGES - 20);
	await producer.stop();
	running.pop();

	// the goal service starts with its copy empty; the one event of FAILING_CLIENT fails until repaired
	const system = await startSystem({
		dataDir,
		env: { SERVICES: "clients,goals", LOG_LEVEL: "fatal", CATCHUP_INTERVAL: "3600000", FAULT_INJECTION: "1", FAULT_RULES: `apply:${FAILING_CLIENT}:always` },
	});
	running.push(system);
	await waitFor(async () => (await checkpointOf(dataDir, "goals", "clients")) === last, {
		timeoutMs: 120_000,
		intervalMs: 100,
		what: "the goal service's checkpoint at the end of the client log",
	});

	// the failing event is in the retry table, alone; every other client is applied
	const retries = await querySqlite<{ id: number; payload: string; status: string }>(dataDir, "goals", "SELECT id, payload, status FROM event_retries");
	expect(retries).toHaveLength(1);
	expect(JSON.parse(retries[0].payload)).toMatchObject({ clientId: FAILING_CLIENT, eventType: "CREATED", version: 1 });
	const copy = await consumerCopy();
	expect(copy.find((row) => row.id === FAILING_CLIENT)).toBeUndefined();
	expect(copy).toEqual((await producerState()).filter((row) => row.id !== FAILING_CLIENT));

	// repaired: a pending retry applies it on its next attempt, a dead letter once an operator retries it
	await setFaults(system.broker, "goals", { apply: null });
	const [row] = await querySqlite<{ id: number; status: string }>(dataDir, "goals", "SELECT id, status FROM event_retries");
	if (row?.status === "dead") await system.broker.call("goals.retryDeadLetter", { id: row.id });
	await waitFor(async () => JSON.stringify(await consumerCopy()) === JSON.stringify(await producerState()), {
		timeoutMs: 20_000,
		intervalMs: 100,
		what: "the goal service's copy to equal the clients table",
	});
	expect(await querySqlite(dataDir, "goals", "SELECT * FROM event_retries")).toEqual([]);
	expect(await counter(system, METRICS.eventsFailed)).toBeGreaterThanOrEqual(1);
	expect(await counter(system, METRICS.eventsRetried)).toBeGreaterThanOrEqual(1);
	// every event was read by catch-up, and each changed the copy once (the retried one included)
	expect(await counter(system, METRICS.catchUpEvents)).toBe(last);
	expect(await counter(system, METRICS.eventsApplied)).toBe(last);
});
