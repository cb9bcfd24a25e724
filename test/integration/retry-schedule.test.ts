/**
 * The retry schedule, on a real SQLite file, with the clock and the jitter's draws in the test's
 * hand: the consumer engine and its retry table see only the injected clock and random source,
 * so the schedule (attempt 2 at 1 s, attempt 3 at 1 + 2 s, then a dead letter; each delay moved
 * within ±25 % by its draw) is checked to the millisecond without waiting, and cannot be thrown
 * off by a busy machine.
 */
import path from "node:path";
import { Checkpoints } from "../../lib/consumer/checkpoints";
import { SOURCES } from "../../lib/constants";
import { CONSUMER_POLICY, ConsumerEngine } from "../../lib/consumer/engine";
import type { BatchResult, Projection } from "../../lib/consumer/projection";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { noEffects } from "../../lib/event-log/effects";
import type { ClientEvent } from "../../lib/domain/events";
import { RETRY_POLICY, RetryStore } from "../../lib/consumer/retries";
import { removeDir, tempDataDir } from "../helpers/system";
import { quietReport } from "../helpers/consumer-report";

/** A projection that fails for the entities in `failing`, and remembers what it applied. */
class FlakyProjection implements Projection<ClientEvent> {
	readonly failing = new Set<number>();
	readonly applied: ClientEvent[] = [];
	entityOf(event: ClientEvent): number {
		return event.clientId;
	}
	async applyBatch(_sql: unknown, events: ClientEvent[]): Promise<BatchResult<ClientEvent>> {
		const bad = events.find((event) => this.failing.has(event.clientId));
		if (bad) throw new Error(`cannot apply client ${bad.clientId}`);
		this.applied.push(...events);
		return { applied: events, stale: [], effects: noEffects() };
	}
}

const event = (sequence: number, clientId: number): ClientEvent => ({
	eventId: `00000000-0000-4000-8000-${String(sequence).padStart(12, "0")}`,
	eventType: "UPDATED",
	source: "clients",
	timestamp: new Date(0).toISOString(),
	sequence,
	version: 2,
	clientId,
	clientName: `Client ${clientId}`,
	clientEmail: `c${clientId}@example.com`,
});

const dir = tempDataDir();
let clock = Date.parse("2026-01-01T00:00:00Z");
let db: Database;
let retries: RetryStore;
let projection: FlakyProjection;
let engine: ConsumerEngine<ClientEvent>;
const log: string[] = [];
/** the jitter's next draws; 0.5 draws the schedule itself */
const draws: number[] = [];
const random = () => draws.shift() ?? 0.5;

beforeAll(async () => {
	db = new Database(`sqlite:${path.join(dir, "goals.sqlite")}`, { schema: serviceSchema(SOURCES.goals) });
	const checkpoints = new Checkpoints(db);
	retries = new RetryStore(db, "goals", RETRY_POLICY, () => new Date(clock), random);
	await db.open();
	await checkpoints.ensure(SOURCES.clients);
	projection = new FlakyProjection();
	const report = quietReport({
		deadLettered: () => log.push("dead"),
		info: (message) => log.push(message),
		warn: (message) => log.push(message),
		error: (message, err) => log.push(`${message} ${String(err)}`),
	});
	engine = new ConsumerEngine<ClientEvent>({
		producer: SOURCES.clients,
		db,
		projection,
		checkpoints,
		retries,
		readLog: async () => ({ events: [], lastSequence: 0 }),
		settle: async () => undefined,
		report,
		policy: { ...CONSUMER_POLICY, partitions: 1 },
		now: () => clock,
	});
});

afterAll(async () => {
	await engine.stop();
	await db.close();
	await db.sequelize.close();
	removeDir(dir);
});

/** The rows still in play (pending, dead); settled ones (replayed, discarded) are kept aside for their retention. */
const rows = () => retries.model.findAll({ raw: true, where: { status: ["pending", "dead"] }, order: [["id", "ASC"]] });

/** Move the clock, then let the engine look for due retries as its timer would. */
async function at(msAfterStart: number, start: number): Promise<void> {
	clock = start + msAfterStart;
	await engine.processRetries();
}

test("given a handler that keeps failing, attempts come at 1 s and 3 s, then the event is a dead letter", async () => {
	projection.failing.add(7);
	const start = clock;
	// a batch of three live events: only client 7's fails, the other two are applied
	await Promise.all([engine.live(event(1, 6)), engine.live(event(2, 7)), engine.live(event(3, 8))]);
	expect(projection.applied.map((applied) => applied.clientId).sort()).toEqual([6, 8]);
	expect(await rows()).toMatchObject([{ sequence: 2, attempts: 1, status: "pending" }]);

	await at(999, start);
	expect(await rows()).toMatchObject([{ attempts: 1 }]);
	await at(1000, start);
	expect(await rows()).toMatchObject([{ attempts: 2, status: "pending" }]);

	await at(2999, start);
	expect(await rows()).toMatchObject([{ attempts: 2 }]);
	await at(3000, start);
	expect(await rows()).toMatchObject([{ attempts: 3, status: "dead" }]);
	expect(log).toContain("dead");

	// a dead letter stays put, however much time passes
	await at(60_000, start);
	expect(await rows()).toMatchObject([{ attempts: 3, status: "dead" }]);
});

test("given a dead letter revived by an operator after the fault is repaired, it is applied on the next look", async () => {
	const [dead] = await rows();
	projection.failing.clear();
	expect(await retries.revive(Number(dead.id))).toMatchObject({ id: `goals-${dead.id}`, attempts: 0 });
	engine.wakeRetries();
	await engine.processRetries();
	expect(await rows()).toEqual([]);
	expect(projection.applied.map((applied) => applied.clientId)).toContain(7);
	// kept as replayed, settled now: purged once DEAD_LETTER_RETENTION_DAYS have passed
	expect(await retries.model.findAll({ raw: true, where: { id: dead.id } })).toMatchObject([{ status: "replayed", attempts: 0 }]);
});

test("given a handler that fails once, the event is applied by attempt 2 at 1 s", async () => {
	projection.failing.add(9);
	const start = clock;
	await engine.live(event(4, 9));
	expect(await rows()).toMatchObject([{ sequence: 4, attempts: 1, status: "pending" }]);
	projection.failing.clear();
	await at(999, start);
	expect(await rows()).toHaveLength(1);
	await at(1000, start);
	expect(await rows()).toEqual([]);
});

test("given draws of 0.1 and 0.9, attempts come at 0.8 s and 0.8 + 2.4 s, then the event is a dead letter", async () => {
	projection.failing.add(11);
	const start = clock;
	draws.push(0.1, 0.9);
	await engine.live(event(5, 11));
	const row = async () => (await rows()).find((one) => one.sequence === 5);
	expect(await row()).toMatchObject({ attempts: 1, status: "pending" });

	await at(799, start);
	expect(await row()).toMatchObject({ attempts: 1 });
	await at(800, start);
	expect(await row()).toMatchObject({ attempts: 2, status: "pending" });

	await at(3199, start);
	expect(await row()).toMatchObject({ attempts: 2 });
	await at(3200, start);
	expect(await row()).toMatchObject({ attempts: 3, status: "dead" });
});

test("given a dead letter revived an hour later, its new round is scheduled from the revival, not cut short by the old one", async () => {
	const dead = (await rows()).find((one) => one.sequence === 5)!;
	clock += 3_600_000;
	const start = clock;
	expect(await retries.revive(Number(dead.id))).toMatchObject({ attempts: 0 });
	engine.wakeRetries();
	// attempt 1 of the new round at once; attempt 2 at 1 s (draw 0.5), attempt 3 at 1 + 2.5 s (draw 0.9999)
	draws.push(0.5, 0.9999);
	await at(0, start);
	expect(await rows()).toContainEqual(expect.objectContaining({ sequence: 5, attempts: 1, status: "pending" }));
	await at(1000, start);
	expect(await rows()).toContainEqual(expect.objectContaining({ sequence: 5, attempts: 2, status: "pending" }));
	await at(3499, start);
	expect(await rows()).toContainEqual(expect.objectContaining({ sequence: 5, attempts: 2 }));
	await at(3500, start);
	expect(await rows()).toContainEqual(expect.objectContaining({ sequence: 5, attempts: 3, status: "dead" }));
});
