/**
 * `/api/ready` on an api node reports, for each service its routes call, how many live nodes
 * serve it, and the node is not ready while one has none (issue 10). Real processes over
 * RabbitMQ, Redis and PostgreSQL.
 */
import { Cluster } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

interface Ready {
	status: string;
	components: { services: Record<string, { status: string; nodes: number }> & { status: string } };
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "/api/ready counts the nodes behind each routed service", () => {
	const cluster = new Cluster();
	let api: ReturnType<typeof client>;

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		api = client(await cluster.startApi("api-1"));
	});
	afterAll(() => cluster.tearDown());

	/** Poll /api/ready until goals has `nodes` nodes; returns the answer. */
	async function readyWithGoals(nodes: number): Promise<{ status: number; body: Ready }> {
		return waitFor(
			async () => {
				const res = await api.get<Ready>("/ready");
				return res.body.components?.services?.goals?.nodes === nodes ? res : null;
			},
			{ timeoutMs: 20_000, intervalMs: 100, what: `/api/ready to count ${nodes} goals node(s)` },
		);
	}

	test("no goals node: 503, goals 0 nodes; one, then two: 200; both stopped: 503 again", async () => {
		const none = await readyWithGoals(0);
		expect(none.status).toBe(503);
		expect(none.body.components.services).toEqual({ status: "DOWN", clients: { status: "UP", nodes: 1 }, goals: { status: "DOWN", nodes: 0 } });

		await cluster.start("goals-1", "goals");
		const one = await readyWithGoals(1);
		expect(one.status).toBe(200);
		expect(one.body.components.services.status).toBe("UP");

		await cluster.start("goals-2", "goals");
		expect((await readyWithGoals(2)).status).toBe(200);

		await Promise.all([cluster.stop("goals-1"), cluster.stop("goals-2")]);
		const gone = await readyWithGoals(0);
		expect(gone.status).toBe(503);
		expect(gone.body.status).toBe("DOWN");
	});
});
