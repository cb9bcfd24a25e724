/**
 * Neighbours (issue 19, item 1): another team's plain-Moleculer nodes on the same RabbitMQ and
 * namespace, each with its own transporter options, subscribing to every event in a group of
 * its own (examples/neighbour-service.ts run as real processes). Before the fix, every project
 * node declared a neighbour's group queue with the project's arguments before publishing to it:
 * RabbitMQ answered 406 PRECONDITION_FAILED, the channel closed, the node reconnected, and the
 * next emit did it again: requests failed, renames never reached the copies, and the neighbour
 * received nothing.
 *
 * The cluster: api, clients, two goals replicas over PostgreSQL. The neighbours: Moleculer's
 * default options (started before the project's nodes), `autoDeleteQueues: 600000` subscribing
 * by wildcard (`client.*`, `goal.*`), and `eventTimeToLive: 60000` (both started after); and two
 * that cannot read our packets nor we theirs: one with the Notepack serializer, one on Moleculer
 * 0.14 (protocol 4). Those receive nothing, and must cost nothing.
 * Then a secured cluster (TRANSPORTER_SECRET) and the example joining it through lib/neighbour.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { METRICS } from "../../lib/constants";
import { Cluster, copiesConverge } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, "../..");

/** What a project node prints when its AMQP connection or channel goes (LOG_LEVEL=warn shows these). */
const RECONNECT = /AMQP connection is closed|AMQP channel (?:is )?closed|closing the connection to reconnect|AMQP channel error/;

interface Received {
	event: string;
	payload: { eventId: string; source: string; sequence: number };
}

/** One neighbour: the example as a real process, with what it received. */
class Neighbour {
	readonly received: Received[] = [];
	private readonly child: ChildProcess;
	private output = "";
	private readonly exited: Promise<void>;
	started = false;

	constructor(
		readonly group: string,
		env: Record<string, string>,
		flags: string[] = [],
		script = "examples/neighbour-service.ts",
	) {
		this.child = spawn(process.execPath, ["--import", "tsx", script, "--json", ...flags], {
			cwd: ROOT,
			env: { ...process.env, NEIGHBOUR_GROUP: group, NODEID: `${group}-node`, ...env },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let pending = "";
		this.child.stdout?.on("data", (chunk: Buffer) => {
			pending += chunk.toString("utf8");
			const lines = pending.split("\n");
			pending = lines.pop() ?? "";
			for (const line of lines.filter((text) => text.trim())) {
				const parsed = JSON.parse(line) as Received | { started: string };
				if ("started" in parsed) this.started = true;
				else this.received.push(parsed);
			}
		});
		this.child.stderr?.on("data", (chunk: Buffer) => {
			this.output += chunk.toString("utf8");
		});
		this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
	}

	/** event ids received, each once */
	ids(): Set<string> {
		return new Set(this.received.map((r) => r.payload.eventId));
	}

	async waitStarted(): Promise<void> {
		await waitFor(
			() => {
				if (this.child.exitCode !== null) throw new Error(`neighbour ${this.group} exited:\n${this.output}`);
				return this.started;
			},
			{ timeoutMs: 30_000, what: `neighbour ${this.group} to start\n${this.output}` },
		);
	}

	errors(): string {
		return this.output;
	}

	async kill9(): Promise<void> {
		if (this.child.exitCode === null) this.child.kill("SIGKILL");
		await this.exited;
	}

	async stop(): Promise<void> {
		if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
		await this.exited;
	}
}

/** Every event id in both producers' logs. */
async function loggedEventIds(cluster: Cluster): Promise<Set<string>> {
	const rows = [
		...(await cluster.query<{ eventId: string }>("clients", `SELECT "eventId" FROM event_log`)),
		...(await cluster.query<{ eventId: string }>("goals", `SELECT "eventId" FROM event_log`)),
	];
	return new Set(rows.map((row) => row.eventId));
}

function missing(expected: Set<string>, got: Set<string>): string[] {
	return [...expected].filter((id) => !got.has(id));
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "neighbours on the same RabbitMQ and namespace", () => {
	// the neighbours have no secret: this cluster runs without one
	const cluster = new Cluster({ TRANSPORTER_SECRET: "" });
	const neighbours: Neighbour[] = [];
	/** neighbours that cannot talk with the project's nodes at all */
	const strangers: Neighbour[] = [];
	let api: ReturnType<typeof client>;

	function neighbour(group: string, options: Record<string, unknown>, flags: string[] = []): Neighbour {
		const one = new Neighbour(
			group,
			{ TRANSPORTER: cluster.env().TRANSPORTER, NAMESPACE: cluster.namespace, NEIGHBOUR_AMQP_OPTIONS: JSON.stringify(options) },
			flags,
		);
		neighbours.push(one);
		return one;
	}

	/** Project nodes that lost their connection or channel so far, with the line that says so. */
	function reconnects(): string[] {
		return [...cluster.nodes.values()].flatMap((node) =>
			node
				.output()
				.split("\n")
				.filter((line) => RECONNECT.test(line))
				.map((line) => `${node.name}: ${line}`),
		);
	}

	beforeAll(async () => {
		await cluster.setUp();
		// one neighbour is there before any project node: its queues exist with its arguments
		const early = neighbour("audit-default", {});
		await early.waitStarted();
		await Promise.all([cluster.start("clients-1", "clients"), cluster.start("goals-1", "goals"), cluster.start("goals-2", "goals")]);
		api = client(await cluster.startApi("api-1"));
		// two more after the project's nodes
		const late = [neighbour("audit-expiring", { autoDeleteQueues: 600_000 }, ["--wildcard"]), neighbour("audit-ttl", { eventTimeToLive: 60_000 })];
		const env = { TRANSPORTER: cluster.env().TRANSPORTER, NAMESPACE: cluster.namespace };
		strangers.push(
			new Neighbour("audit-notepack", { ...env, NEIGHBOUR_SERIALIZER: "Notepack" }),
			new Neighbour("audit-old", env, [], "test/helpers/neighbour-014.ts"),
		);
		await Promise.all([...late, ...strangers].map((one) => one.waitStarted()));
		// the emitting nodes know every neighbour's group before the changes begin
		await waitFor(() => neighbours.every((one) => cluster.probe.registry.nodes.get(`${one.group}-node`)?.available), {
			timeoutMs: 20_000,
			what: "the neighbours to be seen in the cluster",
		});
	}, 180_000);

	afterAll(async () => {
		await Promise.all([...neighbours, ...strangers].map((one) => one.stop()));
		await cluster.tearDown();
	}, 60_000);

	/** `count` REST changes of every kind, each answered 2xx (the failures listed otherwise). */
	async function changes(count: number, tag: string): Promise<void> {
		const failures: string[] = [];
		const ok = (what: string, status: number) => {
			if (status < 200 || status > 299) failures.push(`${what}: ${status}`);
		};
		let done = 0;
		for (let i = 0; done < count; i++) {
			const created = await api.post("/clients", { name: `${tag} ${i}`, email: `${tag}.${i}@example.com` });
			ok("create client", created.status);
			const goal = await api.post("/goals", { clientId: created.body.id, goalName: `Goal ${i}`, targetAmount: 100 + i });
			ok("create goal", goal.status);
			ok("rename client", (await api.put(`/clients/${created.body.id}`, { name: `${tag} ${i} renamed` })).status);
			ok("update goal", (await api.put(`/goals/${goal.body.id}`, { targetAmount: 200 + i })).status);
			done += 4;
			if (i % 3 === 2 && done < count) {
				// every third client is deleted: its goal goes with it (one more goal.deleted event)
				ok("delete client", (await api.del(`/clients/${created.body.id}`)).status);
				done += 1;
			}
		}
		expect(failures).toEqual([]);
	}

	test("300 REST changes all succeed, no project node reconnects, and each neighbour receives every event", async () => {
		await changes(300, "first");
		const expected = await loggedEventIds(cluster);
		expect(expected.size).toBeGreaterThanOrEqual(300);
		for (const one of neighbours) {
			await waitFor(() => missing(expected, one.ids()).length === 0, {
				timeoutMs: 30_000,
				what: `neighbour ${one.group} to receive all ${expected.size} events (missing ${missing(expected, one.ids()).length})\n${one.errors()}`,
			});
		}
		await copiesConverge(cluster);
		expect(reconnects()).toEqual([]);
		// another serializer, another protocol: neither side reads the other, and that is all
		for (const one of strangers) expect(one.received).toEqual([]);
	});

	test("a neighbour killed with kill -9, its queues left behind, changes nothing", async () => {
		const killed = neighbours[2];
		await killed.kill9();
		await changes(40, "second");
		const expected = await loggedEventIds(cluster);
		for (const one of neighbours.slice(0, 2)) {
			await waitFor(() => missing(expected, one.ids()).length === 0, {
				timeoutMs: 30_000,
				what: `neighbour ${one.group} to receive all ${expected.size} events\n${one.errors()}`,
			});
		}
		await copiesConverge(cluster);
		expect(reconnects()).toEqual([]);
	});
});

describeWithInfra(["rabbitmq", "redis", "postgres"], "a neighbour joining a secured cluster through lib/neighbour.ts", () => {
	// Cluster runs with a TRANSPORTER_SECRET of its own
	const cluster = new Cluster();
	let api: ReturnType<typeof client>;
	let member: Neighbour;
	let outsider: Neighbour;

	beforeAll(async () => {
		await cluster.setUp();
		await Promise.all([cluster.start("clients-1", "clients"), cluster.start("goals-1", "goals")]);
		api = client(await cluster.startApi("api-1"));
		const env = { TRANSPORTER: cluster.env().TRANSPORTER, NAMESPACE: cluster.namespace };
		member = new Neighbour("audit-member", { ...env, TRANSPORTER_SECRET: cluster.secret });
		outsider = new Neighbour("audit-outsider", env);
		await Promise.all([member.waitStarted(), outsider.waitStarted()]);
		await waitFor(() => cluster.probe.registry.nodes.get("audit-member-node")?.available, { timeoutMs: 20_000, what: "the member neighbour to be seen" });
	}, 120_000);

	afterAll(async () => {
		await Promise.all([member?.stop(), outsider?.stop()]);
		await cluster.tearDown();
	}, 60_000);

	test("with the secret it receives every event; without it, nothing, and the cluster never lists it", async () => {
		const created = await api.post("/clients", { name: "Secured", email: "secured@example.com" });
		expect(created.status).toBe(201);
		expect((await api.post("/goals", { clientId: created.body.id, goalName: "Boat", targetAmount: 5000 })).status).toBe(201);
		expect((await api.put(`/clients/${created.body.id}`, { name: "Secured renamed" })).status).toBe(200);
		const expected = await loggedEventIds(cluster);
		expect(expected.size).toBe(3);
		await waitFor(() => missing(expected, member.ids()).length === 0, { timeoutMs: 20_000, what: `the member to receive all 3 events\n${member.errors()}` });
		// the outsider's packets were dropped by the nodes (counted); it never became a node of the cluster
		await waitFor(async () => (await cluster.counter("clients-1", METRICS.transitRejected)) > 0, {
			timeoutMs: 20_000,
			what: "clients-1 to count the outsider's packets",
		});
		expect(cluster.probe.registry.nodes.get("audit-outsider-node")).toBeFalsy();
		expect(outsider.received).toEqual([]);
	});
});
