/**
 * A cluster of real node processes over the real RabbitMQ, Redis and PostgreSQL, with its own
 * namespace and databases, plus a probe: a ServiceBroker in the test process that joins the
 * cluster to call actions on chosen nodes and read their metrics. Every cluster runs with a
 * TRANSPORTER_SECRET of its own (packets authenticated and encrypted, lib/infra/transit-auth.ts),
 * and the probe holds it too, as a node would.
 */
import { randomBytes } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { ResilientAmqpTransporter } from "../../lib/infra/amqp-transporter";
import { transitAuth } from "../../lib/infra/transit-auth";
import { Client } from "pg";
import { createDatabase, deleteEventStream, deleteQueues, dropDatabase, INFRA_URLS, uniqueName } from "./infra";
import { freePort, type NodeProcess, type StartOptions, startNode, waitHealthy } from "./node-process";
import { waitFor } from "./wait";

/** Where a cluster's servers are: the machine's shared ones unless a test brings its own. */
export interface ClusterInfra {
	rabbitmq: string;
	redis: string;
	createDatabase(name: string): Promise<string>;
	dropDatabase(name: string): Promise<void>;
	/** remove the namespace's queues afterwards (not needed on a private broker) */
	cleanQueues: boolean;
}

const SHARED_INFRA: ClusterInfra = {
	rabbitmq: INFRA_URLS.rabbitmq,
	redis: INFRA_URLS.redis,
	createDatabase,
	dropDatabase,
	cleanQueues: true,
};

export class Cluster {
	readonly namespace = uniqueName("cg").replace(/_/g, "-");
	readonly nodes = new Map<string, NodeProcess>();
	clientsDb = "";
	goalsDb = "";
	probe!: ServiceBroker;
	/** the cluster's TRANSPORTER_SECRET (a test may give its own in extraEnv; "" runs without one) */
	readonly secret: string;
	private readonly dbNames = [uniqueName("cg_clients"), uniqueName("cg_goals")];
	/**
	 * The cluster's AMQP stream prefix (EVENT_STREAM_PREFIX): its relays publish to exchanges and
	 * queues of its own, deleted in tearDown, never to the contract's names on a shared broker.
	 * A test on a private broker may give "" in extraEnv to use the contract's names.
	 */
	readonly streamPrefix: string;
	/** names of the api nodes started */
	private readonly gateways = new Set<string>();

	constructor(
		private readonly extraEnv: Record<string, string> = {},
		private readonly infra: ClusterInfra = SHARED_INFRA,
	) {
		this.secret = extraEnv.TRANSPORTER_SECRET ?? randomBytes(24).toString("hex");
		this.streamPrefix = extraEnv.EVENT_STREAM_PREFIX ?? `${this.namespace}.`;
	}

	async setUp(): Promise<void> {
		[this.clientsDb, this.goalsDb] = await Promise.all(this.dbNames.map((name) => this.infra.createDatabase(name)));
		this.probe = this.newProbe(`probe-${process.pid}`, this.secret);
		await this.probe.start();
	}

	/** A ServiceBroker without services in the cluster's namespace, holding `secret` (a comma list rotates, as a node's TRANSPORTER_SECRET). */
	private newProbe(nodeID: string, secret: string): ServiceBroker {
		return new ServiceBroker({
			namespace: this.namespace,
			nodeID,
			// the project's own transporter: its queues non-durable like a node's, so that it too moves
			// to another RabbitMQ node of a cluster when its own dies (DESIGN.md, the last pitfall), and
			// a publish on a channel that is closing fails as a rejected promise (Moleculer's AMQP
			// transporter throws it out of its heartbeat timer: an unhandled rejection in the test)
			transporter: new ResilientAmqpTransporter({ url: this.infra.rabbitmq, autoDeleteQueues: false }),
			middlewares: [transitAuth(secret || null)],
			logger: false,
		});
	}

	/**
	 * A new probe holding `secret` in place of the current one (a test that rotates the cluster's
	 * TRANSPORTER_SECRET rotates its probe too): started under a node id of its own, then the old
	 * one stopped. Resolves once the new probe sees every node the old one saw.
	 */
	async replaceProbe(secret: string, nodeID: string): Promise<void> {
		const old = this.probe;
		const next = this.newProbe(nodeID, secret);
		await next.start();
		const seen = [...this.nodes.keys()];
		await waitFor(() => seen.every((name) => next.registry.nodes.get(name)?.available === true), {
			timeoutMs: 30_000,
			what: `the new probe to see ${seen.join(", ")}`,
		});
		this.probe = next;
		await old.stop();
	}

	env(extra: Record<string, string> = {}): Record<string, string> {
		return {
			NAMESPACE: this.namespace,
			TRANSPORTER: this.infra.rabbitmq,
			CACHER: this.infra.redis,
			CLIENTS_DB_URI: this.clientsDb,
			GOALS_DB_URI: this.goalsDb,
			CATCHUP_INTERVAL: "2000",
			// two cluster tests run at once (jest's two workers), maybe beside a benchmark's: at the
			// default 10 a pool, their nodes' connections came near PostgreSQL's 100
			DB_POOL_MAX: "5",
			TRANSPORTER_SECRET: this.secret,
			EVENT_STREAM_PREFIX: this.streamPrefix,
			...this.extraEnv,
			...extra,
		};
	}

	/** Start a node running `services` with NODEID = name; waits until the probe sees it. */
	async start(name: string, services: string, extra: Record<string, string> = {}, options: StartOptions = {}): Promise<NodeProcess> {
		const node = startNode(name, this.env({ SERVICES: services, NODEID: name, ...extra }), options);
		this.nodes.set(name, node);
		await waitFor(
			() => {
				if (node.child.exitCode !== null) throw new Error(`${name} exited:\n${node.output()}`);
				return this.probe.registry.nodes.get(name)?.available === true;
			},
			{ timeoutMs: 30_000, intervalMs: 100, what: `node ${name} to join\n${node.output()}` },
		);
		return node;
	}

	/** Start an api node on a free port; returns its base URL once /api/health answers. */
	async startApi(name: string, extra: Record<string, string> = {}, options: StartOptions = {}): Promise<string> {
		const port = await freePort();
		this.gateways.add(name);
		const node = await this.start(name, "api", { PORT: String(port), ...extra }, options);
		const url = `http://127.0.0.1:${port}/api`;
		await waitHealthy(node, `${url}/health`);
		return url;
	}

	async stop(name: string): Promise<void> {
		await this.nodes.get(name)?.stop();
		this.nodes.delete(name);
	}

	/** Run SQL against a service's PostgreSQL database. */
	async query<T extends object>(service: "clients" | "goals", sql: string): Promise<T[]> {
		const client = new Client({ connectionString: service === "clients" ? this.clientsDb : this.goalsDb });
		// a database restart cuts the connection: let the query fail, not the whole process
		client.on("error", () => undefined);
		await client.connect();
		try {
			return (await client.query(sql)).rows as T[];
		} finally {
			await client.end();
		}
	}

	/**
	 * A counter's value on one node, summed over its labels, or over those values whose labels
	 * include `labels` (0 when never incremented).
	 */
	async counter(nodeID: string, metric: string, labels: Record<string, string> = {}): Promise<number> {
		const list = (await this.probe.call("$node.metrics", { includes: [metric] }, { nodeID })) as Array<{
			name: string;
			values: Array<{ value: number; labels: Record<string, string> }>;
		}>;
		return list
			.filter((m) => m.name === metric)
			.flatMap((m) => m.values)
			.filter((v) => Object.entries(labels).every(([name, value]) => v.labels?.[name] === value))
			.reduce((sum, v) => sum + v.value, 0);
	}

	async tearDown(): Promise<void> {
		// gateways first: what they took is answered by the services, still up; then the rest
		const gateways = [...this.nodes.values()].filter((node) => this.gateways.has(node.name));
		await Promise.all(gateways.map((node) => node.stop()));
		await Promise.all([...this.nodes.values()].filter((node) => !this.gateways.has(node.name)).map((node) => node.stop()));
		this.nodes.clear();
		await this.probe?.stop();
		if (this.infra.cleanQueues) await deleteQueues(`MOL-${this.namespace}.`);
		// (the stream may be on another broker: EVENT_STREAM_URL in extraEnv)
		if (this.infra.cleanQueues || this.extraEnv.EVENT_STREAM_URL)
			await deleteEventStream(this.streamPrefix, this.extraEnv.EVENT_STREAM_URL ?? this.infra.rabbitmq);
		await Promise.all(this.dbNames.map((name) => this.infra.dropDatabase(name)));
	}

	/** Everything every node printed, for failure messages. */
	logs(): string {
		return [...this.nodes.values()].map((node) => `--- ${node.name}\n${node.output()}`).join("\n");
	}
}

/** A client as both services hold it: the client service's row and the goal service's copy. */
export interface ClientRow {
	id: number;
	name: string;
	email: string;
	version: number;
	deleted: boolean;
}

/** The client service's truth and the goal service's copy, in the same shape, ordered by id. */
export async function clientsAndCopies(cluster: Cluster): Promise<{ truth: ClientRow[]; copy: ClientRow[] }> {
	const truth = await cluster.query<ClientRow>("clients", `SELECT id, name, email, version, ("deletedAt" IS NOT NULL) AS deleted FROM clients ORDER BY id`);
	const copy = await cluster.query<ClientRow>("goals", `SELECT "clientId" AS id, name, email, version, deleted FROM client_projection ORDER BY "clientId"`);
	return { truth, copy };
}

/** Wait until the goal service's copy of the clients equals the client service's table; a timeout shows the last difference. */
export async function copiesConverge(cluster: Cluster, timeoutMs = 30_000): Promise<void> {
	await waitFor(
		async () => {
			const { truth, copy } = await clientsAndCopies(cluster);
			expect(copy).toEqual(truth);
			return true;
		},
		{ timeoutMs, intervalMs: 200, what: "the goal service's copy of the clients to equal the client service's table" },
	);
}
