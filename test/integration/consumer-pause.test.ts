/**
 * A consumer pausing itself and resuming, in the engine, on a real SQLite file, with the clock in
 * the test's hand (CONTRACT.md, "Operating consumers"): after CONSUMER_PAUSE_AFTER consecutive
 * failed events it takes no events (a live one is handed back, not applied; catch-up and retries
 * wait), not before CONSUMER_PAUSE_MS has passed does it try one event (the next of the
 * producer's log), a failed try keeps it paused a pause longer, an applied one resumes it; then
 * every event is applied, each once. An operator's pause lasts until resumed; a replica starting
 * meanwhile starts paused. The same over RabbitMQ with two replicas:
 * test/cluster/consumer-pause.test.ts.
 */
import path from "node:path";
import { Checkpoints } from "../../lib/consumer/checkpoints";
import { SOURCES } from "../../lib/constants";
import { CONSUMER_POLICY, ConsumerEngine } from "../../lib/consumer/engine";
import type { PauseState } from "../../lib/consumer/pause-rules";
import { PauseStore } from "../../lib/consumer/pauses";
import type { BatchResult, Projection } from "../../lib/consumer/projection";
import { RETRY_POLICY, RetryStore } from "../../lib/consumer/retries";
import type { ClientEvent } from "../../lib/domain/events";
import { noEffects } from "../../lib/event-log/effects";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { removeDir, tempDataDir } from "../helpers/system";
import { quietReport } from "../helpers/consumer-report";

/** Fails every event while `failing`; remembers each sequence it applied. */
class SwitchableProjection implements Projection<ClientEvent> {
	failing = false;
	readonly applied: number[] = [];
	entityOf(event: ClientEvent): number {
		return event.clientId;
	}
	async applyBatch(_sql: unknown, events: ClientEvent[]): Promise<BatchResult<ClientEvent>> {
		if (this.failing) throw new Error("the copy's table is locked");
		this.applied.push(...events.map((event) => event.sequence));
		return { applied: events, stale: [], effects: noEffects() };
	}
}

/** Client n's creation: one event per client, so that every event is applied once or not at all. */
const event = (sequence: number): ClientEvent => ({
	eventId: `00000000-0000-4000-8000-${String(sequence).padStart(12, "0")}`,
	eventType: "CREATED",
	source: "clients",
	timestamp: new Date(0).toISOString(),
	sequence,
	version: 1,
	clientId: sequence,
	clientName: `Client ${sequence}`,
	clientEmail: `c${sequence}@example.com`,
});

const POLICY = { after: 3, ms: 60_000 };
const dir = tempDataDir();
const log = Array.from({ length: 8 }, (_, i) => event(i + 1));
let clock = Date.parse("2026-03-01T00:00:00.000Z");
let db: Database;
let checkpoints: Checkpoints;
let retries: RetryStore;
let pauses: PauseStore;
let projection: SwitchableProjection;
let engine: ConsumerEngine<ClientEvent>;
const logReads: number[] = [];
const changes: Array<{ state: string; decidedHere: boolean }> = [];

function engineOn(pauseStore: PauseStore, onChange: (pause: PauseState, decidedHere: boolean) => void): ConsumerEngine<ClientEvent> {
	const report = quietReport({ pauseChanged: onChange });
	return new ConsumerEngine<ClientEvent>({
		producer: SOURCES.clients,
		db,
		projection,
		checkpoints,
		retries,
		pauses: pauseStore,
		readLog: async (after, limit) => {
			logReads.push(after);
			return { events: log.filter((one) => one.sequence > after).slice(0, limit), lastSequence: log.length };
		},
		settle: async () => undefined,
		report,
		policy: { ...CONSUMER_POLICY, partitions: 1 },
		now: () => clock,
	});
}

beforeAll(async () => {
	db = new Database(`sqlite:${path.join(dir, "goals.sqlite")}`, { schema: serviceSchema(SOURCES.goals) });
	await db.open();
	checkpoints = new Checkpoints(db);
	await checkpoints.ensure(SOURCES.clients);
	retries = new RetryStore(db, "goals", RETRY_POLICY, () => new Date(clock));
	pauses = new PauseStore(db, "goals", POLICY, () => new Date(clock));
	projection = new SwitchableProjection();
	engine = engineOn(pauses, (pause, decidedHere) => changes.push({ state: pause.state, decidedHere }));
});

afterAll(async () => {
	await engine.stop();
	await db.close();
	await db.sequelize.close();
	removeDir(dir);
});

const retryRows = () => retries.model.findAll({ raw: true, order: [["id", "ASC"]] });
let pausedAt = 0;

test("given two failed events, then it runs on; given the third, then it pauses itself, and says so once", async () => {
	projection.failing = true;
	expect(await engine.live(log[0])).toBe("taken");
	expect(await engine.live(log[1])).toBe("taken");
	expect(engine.pauseState().state).toBe("running");
	expect(changes).toEqual([]);
	pausedAt = clock;
	expect(await engine.live(log[2])).toBe("taken");
	expect(engine.pauseState()).toMatchObject({ state: "paused", failures: 3, since: new Date(pausedAt), probeAt: new Date(pausedAt + POLICY.ms) });
	expect(engine.pauseState().reason).toMatch(/^3 consecutive failed events \(last: .*the copy's table is locked\)/);
	expect(changes).toEqual([{ state: "paused", decidedHere: true }]);
	// the three failures are in the retry table, the checkpoint past them, as for any failure
	expect((await retryRows()).map((row) => [row.sequence, row.status])).toEqual([
		[1, "pending"],
		[2, "pending"],
		[3, "pending"],
	]);
	expect(await checkpoints.read(SOURCES.clients)).toBe(3);
});

test("given it is paused, then a live event is handed back: not applied, not recorded, the checkpoint unmoved", async () => {
	projection.failing = false;
	expect(await engine.live(log[3])).toBe("handedBack");
	expect(projection.applied).toEqual([]);
	expect(await retryRows()).toHaveLength(3);
	expect(await checkpoints.read(SOURCES.clients)).toBe(3);
});

test("given it is paused, then catch-up reads nothing and due retries wait", async () => {
	projection.failing = true;
	const reads = logReads.length;
	await engine.requestCatchUp("timer");
	expect(logReads).toHaveLength(reads);
	clock = pausedAt + 5000;
	engine.wakeRetries();
	await engine.processRetries();
	expect((await retryRows()).map((row) => row.attempts)).toEqual([1, 1, 1]);
});

test("given CONSUMER_PAUSE_MS has not passed, then it does not try; once it has, it tries the next event of the log, which fails: paused a pause longer", async () => {
	const reads = logReads.length;
	clock = pausedAt + POLICY.ms - 1;
	await engine.lookAtPause();
	expect(logReads).toHaveLength(reads);
	expect(engine.pauseState().state).toBe("paused");

	clock = pausedAt + POLICY.ms;
	await engine.lookAtPause();
	// one event tried: the first after the checkpoint, which failed like any (recorded for retry)
	expect(logReads.slice(reads)).toEqual([3]);
	expect((await retryRows()).map((row) => row.sequence)).toEqual([1, 2, 3, 4]);
	expect(await checkpoints.read(SOURCES.clients)).toBe(4);
	expect(engine.pauseState()).toMatchObject({ state: "paused", probeAt: new Date(clock + POLICY.ms) });
	expect(changes).toHaveLength(1);
});

test("given the fault is gone, then the next try is applied and it runs again; every event is then applied, each once", async () => {
	projection.failing = false;
	clock += POLICY.ms - 1;
	await engine.lookAtPause();
	expect(engine.pauseState().state).toBe("paused");
	clock += 1;
	await engine.lookAtPause();
	expect(projection.applied).toEqual([5]);
	expect(engine.pauseState()).toMatchObject({ state: "running", failures: 0, since: new Date(clock) });
	expect(changes).toEqual([
		{ state: "paused", decidedHere: true },
		{ state: "running", decidedHere: true },
	]);
	// what its owner does on resume: catch up, and the retries that came due meanwhile
	await engine.requestCatchUp("resumed");
	engine.wakeRetries();
	await engine.processRetries();
	expect([...projection.applied].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
	expect(await retryRows()).toEqual([]);
});

test("given an operator's pause, then it is handed its events back however long it lasts, and a replica starting meanwhile starts paused", async () => {
	const { pause, changed } = await pauses.pause("token-abc", "maintenance");
	expect(changed).toBe(true);
	engine.adoptPause(pause, false);
	expect(changes.at(-1)).toEqual({ state: "paused", decidedHere: false });
	log.push(event(9));
	expect(await engine.live(log[8])).toBe("handedBack");
	const reads = logReads.length;
	clock += 30 * 24 * 3_600_000;
	await engine.lookAtPause();
	expect(logReads).toHaveLength(reads);
	expect(engine.pauseState()).toMatchObject({ state: "paused", reason: "paused by an operator (token-abc): maintenance" });

	const seen: string[] = [];
	const another = engineOn(new PauseStore(db, "goals", POLICY, () => new Date(clock)), (state) => seen.push(state.state));
	await another.start(3_600_000, () => undefined);
	try {
		expect(another.pauseState().state).toBe("paused");
		expect(seen).toEqual(["paused"]);
		expect(await another.live(log[8])).toBe("handedBack");
	} finally {
		await another.stop();
	}

	const resumed = await pauses.resume();
	engine.adoptPause(resumed.pause, false);
	expect(await engine.live(log[8])).toBe("taken");
	expect(projection.applied.filter((sequence) => sequence === 9)).toEqual([9]);
});

test("given CONSUMER_PAUSE_AFTER 0, then no number of failures pauses it", async () => {
	const never = new PauseStore(db, "goals", { after: 0, ms: 1000 }, () => new Date(clock));
	const failures = Array.from({ length: 50 }, () => false);
	expect(await db.transaction((sql) => never.count(sql, failures, "E"))).toBeNull();
	expect(await never.read()).toMatchObject({ state: "running", failures: 50 });
});
