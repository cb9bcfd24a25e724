/**
 * Retry jitter (issue 21, part 3): 200 events that fail on two goal replicas sharing one
 * PostgreSQL are retried at times spread within ±25 % of the schedule, not in lock-step, and
 * each event's round ends within the seed's 10 s. Real processes (clients-1, goals-1, goals-2)
 * over RabbitMQ and PostgreSQL; the goal service fails every client event (FAULT_RULES
 * apply:all:always), so each of 200 client.created events is tried three times, then
 * dead-lettered.
 *
 * Measured from what the retry table records, never from when the test happened to look: a
 * pending row holds the exact delay its replica drew (`nextAttemptAt` − the failure that
 * scheduled it: `createdAt` for the first, `updatedAt` for a later one), and a dead letter the
 * time of its first failure (`createdAt`) and of its last attempt (`updatedAt`). The test reads
 * the table often enough to see each row between attempts (each pause lasts 0.75 s at least).
 */
import { Client } from "pg";
import { METRICS } from "../../lib/constants";
import { Cluster } from "../helpers/cluster";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(180_000);

const EVENTS = 200;

interface RetryRow {
	id: number;
	eventId: string;
	attempts: number;
	status: "pending" | "dead";
	createdAt: Date;
	updatedAt: Date;
	nextAttemptAt: Date;
}

/** What the table showed of one row over time. */
interface Seen {
	eventId: string;
	failedAt: number;
	/** the delay drawn after the first failure (attempt 2's), and after the second (attempt 3's) */
	firstDelay?: number;
	secondDelay?: number;
	/** when attempt 2 ran (it failed, and scheduled attempt 3) */
	secondAttemptAt?: number;
	/** when the last attempt ran: the dead letter's time */
	lastAttemptAt?: number;
}

const stdev = (values: number[]) => {
	const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
	return Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length);
};

describeWithInfra(["rabbitmq", "redis", "postgres"], "retry jitter on two replicas", () => {
	const cluster = new Cluster();
	const seen = new Map<number, Seen>();
	let db: Client;

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		// every event fails every attempt; the consumer must not pause itself after 20 of them (CONSUMER_PAUSE_AFTER=0: never), the retries are what is measured
		const failing = { FAULT_INJECTION: "1", FAULT_RULES: "apply:all:always", LOG_LEVEL: "error", CONSUMER_PAUSE_AFTER: "0" };
		await Promise.all([cluster.start("goals-1", "goals", failing), cluster.start("goals-2", "goals", failing)]);
		db = new Client({ connectionString: cluster.goalsDb });
		await db.connect();
	}, 120_000);

	afterAll(async () => {
		await db?.end();
		await cluster.tearDown();
	}, 60_000);

	/** Read the retry table once and note what each row shows now. */
	async function look(): Promise<RetryRow[]> {
		const rows = (await db.query<RetryRow>(`SELECT id, "eventId", attempts, status, "createdAt", "updatedAt", "nextAttemptAt" FROM event_retries`)).rows;
		for (const row of rows) {
			const entry = seen.get(row.id) ?? { eventId: row.eventId, failedAt: row.createdAt.getTime() };
			seen.set(row.id, entry);
			if (row.status === "pending" && row.attempts === 1) entry.firstDelay = row.nextAttemptAt.getTime() - row.createdAt.getTime();
			if (row.status === "pending" && row.attempts === 2) {
				entry.secondAttemptAt = row.updatedAt.getTime();
				entry.secondDelay = row.nextAttemptAt.getTime() - row.updatedAt.getTime();
			}
			if (row.status === "dead") entry.lastAttemptAt = row.updatedAt.getTime();
		}
		return rows;
	}

	test("200 failing events: delays drawn within ±25 %, spread and not in lock-step across both replicas, each round within 10 s", async () => {
		// the table is watched from before the first event until every event is a dead letter
		const allDead = waitFor(
			async () => {
				const rows = await look();
				const dead = new Set(rows.filter((row) => row.status === "dead").map((row) => row.eventId));
				return dead.size >= EVENTS;
			},
			{ timeoutMs: 90_000, intervalMs: 50, what: `every event dead-lettered after its three attempts\n${cluster.logs()}` },
		);
		// 200 clients, 20 at a time: 200 client.created events within a second or two, shared by the two replicas
		const queue = Array.from({ length: EVENTS }, (_, i) => i);
		await Promise.all(
			Array.from({ length: 20 }, async () => {
				for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
					await cluster.probe.call("clients.create", { name: `Jitter ${i}`, email: `jitter${i}@example.com` });
				}
			}),
		);
		await allDead;

		const rounds = [...seen.values()];
		expect(new Set(rounds.map((round) => round.eventId)).size).toBe(EVENTS);
		const firstDelays = rounds.flatMap((round) => (round.firstDelay === undefined ? [] : [round.firstDelay]));
		const secondDelays = rounds.flatMap((round) => (round.secondDelay === undefined ? [] : [round.secondDelay]));
		const spans = rounds.map((round) => (round.lastAttemptAt ?? Number.NaN) - round.failedAt);
		const both = rounds.filter((round) => round.firstDelay !== undefined);
		console.info(
			`retry jitter: ${rounds.length} rounds; first delays seen ${firstDelays.length} (${Math.min(...firstDelays)}..${Math.max(...firstDelays)} ms, ` +
				`stdev ${stdev(firstDelays).toFixed(0)} ms, ${new Set(firstDelays).size} distinct); second delays seen ${secondDelays.length} ` +
				`(${Math.min(...secondDelays)}..${Math.max(...secondDelays)} ms, stdev ${stdev(secondDelays).toFixed(0)} ms); ` +
				`first failure to last attempt ${Math.min(...spans)}..${Math.max(...spans)} ms`,
		);

		// the table was read often enough to see nearly every row between its attempts
		expect(firstDelays.length).toBeGreaterThanOrEqual(EVENTS * 0.9);
		expect(secondDelays.length).toBeGreaterThanOrEqual(EVENTS * 0.9);
		// every delay within ±25 % of its schedule (1 s, then 2 s)
		expect(firstDelays.filter((ms) => ms < 750 || ms > 1250)).toEqual([]);
		expect(secondDelays.filter((ms) => ms < 1500 || ms > 2500)).toEqual([]);
		// spread over that range, not one value: a uniform draw has a stdev of 144 ms (289 ms for the second)
		expect(stdev(firstDelays)).toBeGreaterThan(100);
		expect(stdev(secondDelays)).toBeGreaterThan(200);
		expect(new Set(firstDelays).size).toBeGreaterThan(firstDelays.length / 2);
		expect(firstDelays.filter((ms) => ms < 1000).length).toBeGreaterThan(firstDelays.length / 4);
		expect(firstDelays.filter((ms) => ms > 1000).length).toBeGreaterThan(firstDelays.length / 4);

		// not in lock-step: events that failed within 20 ms of each other (on either replica) are
		// next tried far apart; without jitter they would be tried within those same 20 ms
		const sorted = both.sort((a, b) => a.failedAt - b.failedAt);
		const apart: number[] = [];
		for (let i = 0; i < sorted.length; i++) {
			for (let j = i + 1; j < sorted.length && sorted[j].failedAt - sorted[i].failedAt <= 20; j++) {
				apart.push(Math.abs(sorted[j].failedAt + sorted[j].firstDelay! - (sorted[i].failedAt + sorted[i].firstDelay!)));
			}
		}
		apart.sort((a, b) => a - b);
		const median = apart[Math.floor(apart.length / 2)];
		console.info(`retry jitter: ${apart.length} pairs of events failing within 20 ms of each other; their next attempts apart by a median of ${median} ms`);
		expect(apart.length).toBeGreaterThan(50);
		// two draws within ±250 ms are on average 167 ms apart
		expect(median).toBeGreaterThan(100);

		// each attempt came no sooner than drawn, and every round ended within the seed's 10 s
		for (const round of rounds) {
			if (round.firstDelay !== undefined && round.secondAttemptAt !== undefined) {
				expect(round.secondAttemptAt).toBeGreaterThanOrEqual(round.failedAt + round.firstDelay);
			}
		}
		expect(spans.filter((span) => !(span >= 2250 && span <= 10_000))).toEqual([]);

		// both replicas took first deliveries and ran retries (they share the retry table)
		for (const node of ["goals-1", "goals-2"]) {
			expect(await cluster.counter(node, METRICS.eventsFailed)).toBeGreaterThan(0);
			expect(await cluster.counter(node, METRICS.eventsRetried)).toBeGreaterThan(0);
		}
		const retried = (await cluster.counter("goals-1", METRICS.eventsRetried)) + (await cluster.counter("goals-2", METRICS.eventsRetried));
		const deadLettered = (await cluster.counter("goals-1", METRICS.eventsDeadLettered)) + (await cluster.counter("goals-2", METRICS.eventsDeadLettered));
		console.info(
			`retry jitter: retries run goals-1 ${await cluster.counter("goals-1", METRICS.eventsRetried)}, goals-2 ${await cluster.counter("goals-2", METRICS.eventsRetried)}`,
		);
		expect(retried).toBe(2 * rounds.length);
		expect(deadLettered).toBe(rounds.length);
	});
});
