/**
 * The consumer engine's live backlog is bounded: live events beyond `liveBacklogMax` are not
 * held in memory (their delivery is done at once) and catch-up applies them from the log.
 * Embedded, a writer no longer waits for the local consumer, so this bound is what keeps a
 * consumer that falls behind from growing without limit. Real SQLite file; the projection is the
 * test's, so it can hold the first batch while the others arrive.
 */
import path from "node:path";
import { Checkpoints } from "../../lib/consumer/checkpoints";
import { SOURCES } from "../../lib/constants";
import { CONSUMER_POLICY, ConsumerEngine } from "../../lib/consumer/engine";
import type { BatchResult, Projection } from "../../lib/consumer/projection";
import { RETRY_POLICY, RetryStore } from "../../lib/consumer/retries";
import type { ClientEvent } from "../../lib/domain/events";
import { noEffects } from "../../lib/event-log/effects";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { removeDir, tempDataDir } from "../helpers/system";
import { waitFor } from "../helpers/wait";
import { quietReport } from "../helpers/consumer-report";

/** Applies whatever it is given, but holds the first batch until `release` is called. */
class GatedProjection implements Projection<ClientEvent> {
	readonly applied: number[] = [];
	release: () => void = () => undefined;
	private readonly gate = new Promise<void>((resolve) => (this.release = resolve));
	entityOf(event: ClientEvent): number {
		return event.clientId;
	}
	async applyBatch(_sql: unknown, events: ClientEvent[]): Promise<BatchResult<ClientEvent>> {
		await this.gate;
		this.applied.push(...events.map((event) => event.sequence));
		return { applied: events, stale: [], effects: noEffects() };
	}
}

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

const dir = tempDataDir();
const log = [1, 2, 3, 4, 5, 6].map(event);
let db: Database;
let engine: ConsumerEngine<ClientEvent>;
let projection: GatedProjection;

beforeAll(async () => {
	db = new Database(`sqlite:${path.join(dir, "goals.sqlite")}`, { schema: serviceSchema(SOURCES.goals) });
	const checkpoints = new Checkpoints(db);
	await db.open();
	projection = new GatedProjection();
	const report = quietReport();
	engine = new ConsumerEngine<ClientEvent>({
		producer: SOURCES.clients,
		db,
		projection,
		checkpoints,
		retries: new RetryStore(db, "goals", RETRY_POLICY),
		readLog: async (after, limit) => ({
			events: log.filter((one) => one.sequence > after).slice(0, limit),
			lastSequence: log.length,
		}),
		settle: async () => undefined,
		report,
		policy: { ...CONSUMER_POLICY, partitions: 1, liveBatchMax: 1, liveBacklogMax: 3, gapGraceMs: 0 },
	});
	await engine.start(3_600_000, () => undefined);
});

afterAll(async () => {
	projection.release();
	await engine.stop();
	await db.close();
	await db.sequelize.close();
	removeDir(dir);
});

test("given a full live backlog, when more events arrive, then they are not held and catch-up applies them from the log", async () => {
	const settled = new Set<number>();
	const deliveries = log.map((one) => engine.live(one).then(() => settled.add(one.sequence)));
	// 1 is being applied (held by the gate), 2 and 3 wait: the backlog of 3 is full, so the
	// deliveries of 4, 5 and 6 are done at once, with nothing applied yet
	await waitFor(() => settled.size === 3, { what: "the deliveries beyond the backlog to be done" });
	expect([...settled].sort()).toEqual([4, 5, 6]);
	expect(projection.applied).toEqual([]);

	projection.release();
	await Promise.all(deliveries);
	// the events left out bring a catch-up, which reads them from the log (this projection has
	// no version guard, so an event both live and caught up shows twice: count distinct ones)
	const distinct = () => [...new Set(projection.applied)].sort((a, b) => a - b);
	await waitFor(() => distinct().length === 6, { what: "catch-up to apply the events left out" });
	expect(distinct()).toEqual([1, 2, 3, 4, 5, 6]);
});
