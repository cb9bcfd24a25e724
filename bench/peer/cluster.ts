/**
 * The peer cluster as the benchmark runs it: its two databases (schema applied first, as a
 * migration would), then one real process per node (bench/peer/node.ts) — clients, two goals
 * replicas, the gateway — in a namespace of its own on the shared RabbitMQ. tearDown stops the
 * nodes and removes the namespace's queues and the databases.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { Client } from "pg";
import { createDatabase, deleteQueues, dropDatabase, INFRA_URLS, uniqueName } from "../../test/helpers/infra";
import { CONFIG_VARIABLES, freePort } from "../../test/helpers/node-process";
import { waitFor } from "../../test/helpers/wait";
import { compiled } from "../compiled";
import { CLIENTS_SCHEMA, GOALS_SCHEMA } from "./schema";

const ROOT = path.resolve(__dirname, "../..");

export interface PeerNode {
	name: string;
	child: ChildProcess;
	output(): string;
	stop(): Promise<void>;
}

function startPeerNode(name: string, env: Record<string, string>): PeerNode {
	// the project's variables (a developer's shell) are not the peer's business
	const inherited = { ...process.env };
	for (const variable of CONFIG_VARIABLES) delete inherited[variable];
	const child = spawn(process.execPath, [compiled(path.join("bench", "peer", "node.ts"))], {
		cwd: ROOT,
		env: { ...inherited, NODEID: name, ...env },
		stdio: ["ignore", "pipe", "pipe"],
	});
	let output = "";
	child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
	child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	return {
		name,
		child,
		output: () => output,
		stop: async () => {
			if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
			await exited;
		},
	};
}

export class PeerCluster {
	readonly namespace = uniqueName("peer").replace(/_/g, "-");
	readonly nodes = new Map<string, PeerNode>();
	readonly databases = { clients: uniqueName("peer_clients"), goals: uniqueName("peer_goals") };
	private uris = { clients: "", goals: "" };
	/** base URL of the gateway, e.g. http://127.0.0.1:41234/api */
	url = "";

	/** Databases and schema, then clients, goals ×2 and the gateway; resolves once the gateway routes to both services. */
	async start(): Promise<void> {
		this.uris = { clients: await createDatabase(this.databases.clients), goals: await createDatabase(this.databases.goals) };
		await this.query("clients", CLIENTS_SCHEMA);
		await this.query("goals", GOALS_SCHEMA);
		const port = await freePort();
		const env = {
			NAMESPACE: this.namespace,
			TRANSPORTER: INFRA_URLS.rabbitmq,
			CLIENTS_DB_URI: this.uris.clients,
			GOALS_DB_URI: this.uris.goals,
			PORT: String(port),
		};
		await Promise.all([
			this.startNode("peer-clients-1", { ...env, SERVICES: "clients" }),
			this.startNode("peer-goals-1", { ...env, SERVICES: "goals" }),
			this.startNode("peer-goals-2", { ...env, SERVICES: "goals" }),
		]);
		await this.startNode("peer-api-1", { ...env, SERVICES: "api" });
		this.url = `http://127.0.0.1:${port}/api`;
		// 404 (not 503) once the gateway knows both services
		await waitFor(
			async () => {
				const answers = await Promise.all(["clients", "goals"].map((route) => fetch(`${this.url}/${route}/999999999`).catch(() => null)));
				return answers.every((res) => res?.status === 404);
			},
			{ timeoutMs: 30_000, intervalMs: 100, what: `the peer's gateway to route to clients and goals\n${this.logs()}` },
		);
	}

	private async startNode(name: string, env: Record<string, string>): Promise<void> {
		const node = startPeerNode(name, env);
		this.nodes.set(name, node);
		await waitFor(
			() => {
				if (node.child.exitCode !== null) throw new Error(`${name} exited:\n${node.output()}`);
				return node.output().includes("peer node started");
			},
			{ timeoutMs: 30_000, intervalMs: 50, what: `peer node ${name} to start\n${node.output()}` },
		);
	}

	/** Run SQL against a service's database, on a connection of its own. */
	async query<T extends object>(service: "clients" | "goals", sql: string): Promise<T[]> {
		const client = new Client({ connectionString: this.uris[service] });
		await client.connect();
		try {
			return (await client.query<T>(sql)).rows;
		} finally {
			await client.end();
		}
	}

	/**
	 * Whether every event so far has been applied: each renamed client's copy on the goals side
	 * has its version, and the clients side holds a copy of every goal.
	 */
	async settled(): Promise<boolean> {
		const [renamed, copies, goals, goalCopies] = await Promise.all([
			this.query<{ id: number; version: number }>("clients", "SELECT id, version FROM clients WHERE version > 1"),
			this.query<{ id: number; version: number }>("goals", "SELECT id, version FROM clients_copy"),
			this.query<{ n: string }>("goals", "SELECT count(*) AS n FROM goals"),
			this.query<{ n: string }>("clients", "SELECT count(*) AS n FROM goals_copy"),
		]);
		const held = new Map(copies.map((row) => [row.id, row.version]));
		return renamed.every((row) => held.get(row.id) === row.version) && goals[0].n === goalCopies[0].n;
	}

	/** [clientId, goalId] for each client with a goal: the goal read to see a rename arrive. */
	async goalOfEachClient(): Promise<Array<[number, number]>> {
		const rows = await this.query<{ clientId: number; id: number }>(
			"goals",
			`SELECT DISTINCT ON ("clientId") "clientId", id FROM goals ORDER BY "clientId", id`,
		);
		return rows.map((row) => [row.clientId, row.id]);
	}

	async clientIds(): Promise<number[]> {
		return (await this.query<{ id: number }>("clients", "SELECT id FROM clients ORDER BY id")).map((row) => row.id);
	}

	/** The node processes by name (api, clients, goals ×2). */
	pids(): Map<string, number> {
		return new Map([...this.nodes].map(([name, node]) => [name, node.child.pid as number]));
	}

	async tearDown(): Promise<void> {
		await this.nodes.get("peer-api-1")?.stop();
		await Promise.all([...this.nodes.values()].map((node) => node.stop()));
		this.nodes.clear();
		await deleteQueues(`MOL-${this.namespace}.`);
		await Promise.all(Object.values(this.databases).map((name) => dropDatabase(name)));
	}

	logs(): string {
		return [...this.nodes.values()].map((node) => `--- ${node.name}\n${node.output()}`).join("\n");
	}
}
