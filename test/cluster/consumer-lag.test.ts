/**
 * Consumer lag in readiness and the metrics (issue 11, must-show 4): `/api/ready` on the gateway
 * reports each consumer's lag (the producer's log head minus the consumer's checkpoint), its
 * pending retries and dead letters, and its queues. While the goal service is stopped, its lag
 * grows with every client change (from its last answer); once it is back and has caught up, the
 * lag is 0 again and reported live. The goal node's own gauges say the same. Real processes over
 * RabbitMQ, Redis and PostgreSQL.
 */
import { METRICS } from "../../lib/constants";
import type { ConsumerState } from "../../lib/consumer/consumer-state";
import { publicNodeName } from "../../lib/infra/readiness";
import { Cluster } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

/** A consumer as readiness reports it: its state, and its queues as the gateway sees them. */
type ConsumerEntry = ConsumerState & { queues: Record<string, { messages: number | null; consumers: number | null }> };

interface ReadyBody {
	components: {
		consumers: { status: string; goals: ConsumerEntry; clients: ConsumerEntry };
		nodes: Record<string, { services: string[]; local: boolean } | string>;
	};
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "consumer lag in /api/ready", () => {
	const cluster = new Cluster();
	let api: ReturnType<typeof client>;

	const consumers = async () => (await api.get<ReadyBody>("/ready")).body.components.consumers;

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		await cluster.start("goals-1", "goals");
		api = client(await cluster.startApi("api-1"));
	});
	afterAll(() => cluster.tearDown());

	test("the lag grows while the goal service is stopped and returns to 0, reported live, after its catch-up", async () => {
		const ids: number[] = [];
		for (let i = 0; i < 5; i++) {
			const res = await api.post("/clients", { name: `Lag ${i}`, email: `lag${i}-${cluster.namespace}@example.com` });
			expect(res.status).toBe(201);
			ids.push(res.body.id);
		}
		const caughtUp = await waitFor(
			async () => {
				const { goals } = await consumers();
				return goals.reported === "live" && goals.head === 5 && goals.lag === 0 ? goals : null;
			},
			{ timeoutMs: 20_000, what: "the goal service's lag to be 0 at head 5" },
		);
		expect(caughtUp).toMatchObject({ producer: "clients", checkpoint: 5, pendingRetries: 0, deadLetters: 0 });
		// its queues, as the gateway's transporter sees them: one consumer each
		expect(Object.values(caughtUp.queues).map((queue) => queue.consumers)).toEqual([1, 1, 1]);
		const ready = (await api.get<ReadyBody>("/ready")).body;
		// by public name (no node id in an answer): node-<8 hex digits of a hash of the id>
		expect(ready.components.nodes[publicNodeName("goals-1")]).toEqual({ services: ["goals"], local: false });
		expect(ready.components.nodes[publicNodeName("api-1")]).toEqual({ services: ["api"], local: true });
		expect(JSON.stringify(ready)).not.toMatch(/goals-1|api-1|clients-1/);

		await cluster.stop("goals-1");
		for (let i = 0; i < 6; i++) expect((await api.put(`/clients/${ids[i % ids.length]}`, { name: `Renamed ${i}` })).status).toBe(200);
		const behind = await waitFor(
			async () => {
				const { goals } = await consumers();
				return goals.head === 11 ? goals : null;
			},
			{ timeoutMs: 10_000, what: "the head to be 11" },
		);
		expect(behind).toMatchObject({ reported: "last known", checkpoint: 5, lag: 6 });
		for (let i = 0; i < 4; i++) expect((await api.put(`/clients/${ids[i]}`, { name: `Again ${i}` })).status).toBe(200);
		expect(await consumers()).toMatchObject({ goals: { reported: "last known", head: 15, lag: 10 } });
		// the queues hold the events meanwhile: nobody consumes them
		const queued = (await consumers()).goals.queues;
		expect(Object.values(queued).map((queue) => queue.consumers)).toEqual([0, 0, 0]);
		expect(Object.values(queued).reduce((sum, queue) => sum + (queue.messages ?? 0), 0)).toBe(10);

		await cluster.start("goals-1", "goals");
		const back = await waitFor(
			async () => {
				const { goals } = await consumers();
				return goals.reported === "live" && goals.lag === 0 ? goals : null;
			},
			{ timeoutMs: 30_000, what: "the goal service's lag to return to 0" },
		);
		expect(back).toMatchObject({ head: 15, checkpoint: 15 });
		// the goal node's own gauge says the same (sampled every 5 s)
		await waitFor(async () => (await cluster.counter("goals-1", METRICS.consumerLag, { consumer: "goals" })) === 0 && (await gaugeKnown()), {
			timeoutMs: 15_000,
			what: "the goals node's lag gauge at 0",
		});
	});

	/** Whether the goals node has sampled its lag at all (a gauge never set reads 0 too). */
	async function gaugeKnown(): Promise<boolean> {
		const list = (await cluster.probe.call("$node.metrics", { includes: [METRICS.consumerLag] }, { nodeID: "goals-1" })) as Array<{
			values: Array<{ labels: Record<string, string> }>;
		}>;
		return list.some((metric) => metric.values.some((value) => value.labels.consumer === "goals"));
	}
});
