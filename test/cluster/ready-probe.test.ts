/**
 * `GET /api/ready` never kills a node (issue 9, item 0). One real node process running every
 * service over the real RabbitMQ (its own namespace, SQLite files of its own), polled from the
 * moment it is spawned, while the event queues it consumes do not exist yet, and again while
 * one of them is deleted behind its back. Before the fix, the readiness probe's passive check of
 * a missing queue closed its channel with a 404 and the unhandled 'error' ended the process.
 * The node runs without TRANSPORTER_SECRET, and warns about it at start.
 */
import path from "node:path";
import amqp from "amqplib";
import { eventQueueName } from "../../lib/constants";
import { client, type Reply } from "../helpers/http";
import { deleteQueues, describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { freePort, type NodeProcess, startNode } from "../helpers/node-process";
import { removeDir, tempDataDir } from "../helpers/system";
import { waitFor } from "../helpers/wait";

jest.setTimeout(90_000);

interface ReadyBody {
	status: "UP" | "DEGRADED" | "DOWN";
	components: { queues: Record<string, unknown> & { status: "UP" | "DOWN" } };
}

describeWithInfra(["rabbitmq"], "GET /api/ready on a one-node AMQP configuration", () => {
	const namespace = uniqueName("cg-ready").replace(/_/g, "-");
	const dataDir = tempDataDir();
	/** a queue this node consumes: the goal service's client.updated in group "goals" */
	const queue = eventQueueName(namespace, "goals", "client.updated");
	let node: NodeProcess;
	let api: ReturnType<typeof client>;
	const answers: Array<Reply<ReadyBody>> = [];

	/** Ask /api/ready; a refused connection (port not open yet) is no answer. */
	async function ready(): Promise<Reply<ReadyBody> | null> {
		if (node.child.exitCode !== null || node.child.signalCode !== null) {
			throw new Error(`the node died (${node.child.exitCode ?? node.child.signalCode}):\n${node.output()}`);
		}
		const answer = await api.get<ReadyBody>("/ready").catch((err: Error) => {
			if (/ECONNREFUSED/.test(err.message)) return null;
			throw err;
		});
		if (answer) answers.push(answer);
		return answer;
	}

	async function deleteQueue(name: string): Promise<void> {
		const connection = await amqp.connect(INFRA_URLS.rabbitmq);
		try {
			const channel = await connection.createChannel();
			await channel.deleteQueue(name);
			await channel.close();
		} finally {
			await connection.close();
		}
	}

	beforeAll(async () => {
		const port = await freePort();
		api = client(`http://127.0.0.1:${port}/api`);
		node = startNode("all-in-one", {
			TRANSPORTER: INFRA_URLS.rabbitmq,
			NAMESPACE: namespace,
			PORT: String(port),
			CLIENTS_DB_URI: `sqlite:${path.join(dataDir, "clients.sqlite")}`,
			GOALS_DB_URI: `sqlite:${path.join(dataDir, "goals.sqlite")}`,
			// only live delivery can bring a change over during the test
			CATCHUP_INTERVAL: "3600000",
		});
	});

	afterAll(async () => {
		await node?.stop();
		await deleteQueues(`MOL-${namespace}.`);
		removeDir(dataDir);
	});

	test("polled from the first moment, the node stays up and turns ready once its queues exist", async () => {
		const up = await waitFor(async () => (await ready())?.status === 200, { timeoutMs: 40_000, intervalMs: 20, what: "the node to be ready" });
		expect(up).toBe(true);
		for (const answer of answers) {
			// 503 while starting: not ready yet, or a route not served yet; never anything else
			expect([200, 503]).toContain(answer.status);
		}
		const last = answers[answers.length - 1];
		expect(last.body.status).toBe("UP");
		expect(last.body.components.queues[queue]).toEqual({ messages: 0, consumers: 1 });
		expect(node.output()).not.toMatch(/Unhandled 'error' event/);
		// started with a transporter and no TRANSPORTER_SECRET: it says so
		expect(node.output()).toMatch(/TRANSPORTER_SECRET is not set: packets between nodes are neither authenticated nor encrypted/);
	});

	test("a consumed queue deleted behind its back: ready reports it missing, the node stays up, declares it again and consumes it", async () => {
		// RabbitMQ cancels the node's consumer; the node declares the queue again a moment later,
		// so delete it again until one answer has seen it gone
		const missing = await waitFor(
			async () => {
				await deleteQueue(queue);
				const answer = await ready();
				return answer?.body?.components?.queues?.[queue] && (answer.body.components.queues[queue] as { missing?: boolean }).missing ? answer : null;
			},
			{ timeoutMs: 20_000, intervalMs: 50, what: `/api/ready to report ${queue} missing` },
		);
		expect(missing.status).toBe(503);
		expect(missing.body.status).toBe("DOWN");
		expect(missing.body.components.queues.status).toBe("DOWN");
		expect(missing.body.components.queues[queue]).toEqual({ messages: null, consumers: 0, missing: true });

		const again = await waitFor(
			async () => {
				const answer = await ready();
				return answer?.status === 200 ? answer : null;
			},
			{ timeoutMs: 20_000, intervalMs: 50, what: "the node to be ready again" },
		);
		expect(again.body.components.queues[queue]).toEqual({ messages: expect.any(Number), consumers: 1 });

		// not deaf: a rename reaches the goal service's copy through the queue declared again
		const owner = await api.post("/clients", { name: "Before", email: "ready-probe@example.com" });
		expect(owner.status).toBe(201);
		const goal = await api.post("/goals", { clientId: owner.body.id, goalName: "House", targetAmount: 100 });
		expect(goal.status).toBe(201);
		expect((await api.put(`/clients/${owner.body.id}`, { name: "After" })).status).toBe(200);
		await waitFor(async () => (await api.get(`/goals/${goal.body.id}`)).body.clientName === "After", {
			timeoutMs: 10_000,
			what: "the goal service to apply client.updated live",
		});

		expect(node.child.exitCode).toBeNull();
		expect(node.output()).not.toMatch(/Unhandled 'error' event/);
		expect(await node.stop()).toBe(0);
	});
});
