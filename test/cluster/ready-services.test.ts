/**
 * `/api/ready` on an api node reports, for each service its routes call, how many live nodes
 * serve it (issue 10), and readiness does not cascade (issue 19, CONTRACT.md `/api/ready`): the
 * gateway is DOWN (503) until every routed service has had a live node since it started; after
 * that, a service without a live node makes it DEGRADED with HTTP 200, and only the routes that
 * need that service answer 503, in the contract's error shape. Real processes over RabbitMQ,
 * Redis and PostgreSQL; real HTTP.
 */
import { Cluster } from "../helpers/cluster";
import { expectErrorShape } from "../helpers/expect-error";
import { client, type Reply, request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

interface Ready {
	status: "UP" | "DEGRADED" | "DOWN";
	components: { services: Record<string, { status: string; nodes: number }> & { status: string } };
}

describeWithInfra(
	["rabbitmq", "redis", "postgres"],
	"/api/ready counts the nodes behind each routed service, and one missing service does not take the gateway down",
	() => {
		const cluster = new Cluster();
		let apiUrl = "";
		let api: ReturnType<typeof client>;

		beforeAll(async () => {
			await cluster.setUp();
			await cluster.start("clients-1", "clients");
			apiUrl = await cluster.startApi("api-1");
			api = client(apiUrl);
		});
		afterAll(() => cluster.tearDown());

		/** Poll /api/ready until the gateway counts `clients` and `goals` live nodes; returns that answer. */
		async function readyWith(clients: number, goals: number): Promise<Reply<Ready>> {
			return waitFor(
				async () => {
					const res = await api.get<Ready>("/ready");
					const services = res.body.components?.services;
					return services?.clients?.nodes === clients && services?.goals?.nodes === goals ? res : null;
				},
				{ timeoutMs: 20_000, intervalMs: 100, what: `/api/ready to count ${clients} clients and ${goals} goals node(s)` },
			);
		}

		test("a fresh gateway, goals never started: 503 DOWN on every answer until goals appears, then 200 UP", async () => {
			const before = await readyWith(1, 0);
			expect(before.status).toBe(503);
			expect(before.body.status).toBe("DOWN");
			expect(before.body.components.services).toEqual({ status: "DOWN", clients: { status: "UP", nodes: 1 }, goals: { status: "DOWN", nodes: 0 } });

			// every answer while goals is joining, until the first that counts it
			const answers: Array<Reply<Ready>> = [];
			const [, first] = await Promise.all([
				cluster.start("goals-1", "goals"),
				waitFor(
					async () => {
						const res = await api.get<Ready>("/ready");
						answers.push(res);
						return res.body.components.services.goals.nodes > 0 ? res : null;
					},
					{ timeoutMs: 40_000, intervalMs: 50, what: "/api/ready to count a goals node" },
				),
			]);
			const withoutGoals = answers.filter((answer) => answer.body.components.services.goals.nodes === 0);
			expect(withoutGoals.map((answer) => [answer.status, answer.body.status])).toEqual(withoutGoals.map(() => [503, "DOWN"]));
			expect(first.status).toBe(200);
			expect(first.body.status).toBe("UP");
			expect(first.body.components.services).toEqual({ status: "UP", clients: { status: "UP", nodes: 1 }, goals: { status: "UP", nodes: 1 } });
		});

		test("goals stopped: 200 DEGRADED, the clients routes served, the goals routes 503 in the contract's shape; goals back: 200 UP", async () => {
			const owner = await api.post("/clients", { name: "Before", email: `before-${cluster.namespace}@example.com` });
			expect(owner.status).toBe(201);
			const goal = await api.post("/goals", { clientId: owner.body.id, goalName: "House", targetAmount: 100 });
			expect(goal.status).toBe(201);
			await cluster.start("goals-2", "goals");
			expect((await readyWith(1, 2)).status).toBe(200);

			await Promise.all([cluster.stop("goals-1"), cluster.stop("goals-2")]);
			const degraded = await readyWith(1, 0);
			expect(degraded.status).toBe(200);
			expect(degraded.body.status).toBe("DEGRADED");
			expect(degraded.body.components.services).toEqual({ status: "DEGRADED", clients: { status: "UP", nodes: 1 }, goals: { status: "DOWN", nodes: 0 } });

			// the clients routes: served as before
			const id = owner.body.id as number;
			const created = await api.post("/clients", { name: "During", email: `during-${cluster.namespace}@example.com` });
			expect(created.status).toBe(201);
			expect((await api.get("/clients")).status).toBe(200);
			expect((await api.get(`/clients/${id}`)).status).toBe(200);
			expect((await api.put(`/clients/${id}`, { name: "During Outage" })).status).toBe(200);
			expect((await api.get(`/clients/${id}/events`)).status).toBe(200);

			// the routes that need the goal service: 503, no stack, no node id
			const needGoals: Array<[string, string, unknown?]> = [
				["GET", "/goals"],
				["GET", `/goals/${goal.body.id}`],
				["POST", "/goals", { clientId: id, goalName: "Boat", targetAmount: 50 }],
				["PUT", `/goals/${goal.body.id}`, { goalName: "Bigger House" }],
				["GET", `/goals/${goal.body.id}/events`],
				["GET", `/clients/${id}/goals`],
			];
			for (const [method, path, body] of needGoals) {
				const res = await request(method, `${apiUrl}${path}`, body);
				expectErrorShape(res, 503);
				expect({ route: `${method} ${path}`, type: res.body.type }).toEqual({ route: `${method} ${path}`, type: "SERVICE_UNAVAILABLE" });
			}
			// still DEGRADED, never DOWN, after all that
			expect((await api.get<Ready>("/ready")).body.status).toBe("DEGRADED");

			await cluster.start("goals-1", "goals");
			const back = await readyWith(1, 1);
			expect(back.status).toBe(200);
			expect(back.body.status).toBe("UP");
			await waitFor(async () => (await api.get(`/goals/${goal.body.id}`)).body.clientName === "During Outage", {
				timeoutMs: 20_000,
				what: "the rename made during the outage to reach the goal service",
			});
		});
	},
);
