/**
 * Private RabbitMQ, Redis and PostgreSQL servers on their own ports and data folders, for the
 * fault tests: they stop and restart these at will without disturbing any other suite, which
 * keeps using the machine's shared servers.
 */
import { execFile } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, portOpen } from "./node-process";
import { waitFor } from "./wait";

const run = promisify(execFile);

async function waitPort(port: number, open: boolean, what: string, timeoutMs = 60_000): Promise<void> {
	await waitFor(async () => (await portOpen(port)) === open, { timeoutMs, intervalMs: 100, what: `${what} port ${port} ${open ? "open" : "closed"}` });
}

/** A RabbitMQ node of its own (`<name><port>@localhost`), run as the rabbitmq user like the system's. */
export class PrivateRabbit {
	port = 0;
	/** the Erlang node name, `chaos<port>@localhost` unless a name was given */
	node = "";
	private dir = "";
	private envFile = "";
	/** whether the Erlang node runs (false after kill9 until start boots it again) */
	private running = false;

	/** `name`: the node name's stem (a cluster names its members); `chaos` by default */
	constructor(private readonly name = "chaos") {}

	get url(): string {
		return `amqp://guest:guest@127.0.0.1:${this.port}`;
	}

	/** the beam process's pid file (RabbitMQ writes it once it booted) */
	get pidFile(): string {
		return path.join(this.dir, "pid");
	}

	/**
	 * Start the node: the first time its folders and files, owned by the rabbitmq user (whose
	 * ~/.erlang.cookie every private node and rabbitmqctl share), then `rabbitmq-server -detached`;
	 * after `stop` the application again; after `kill9` the node again (its data, cluster
	 * membership included, is kept). Resolves once the node has booted and listens.
	 */
	async start(): Promise<void> {
		if (!this.dir) await this.prepare();
		if (this.running) {
			await this.ctl("start_app");
		} else {
			rmSync(this.pidFile, { force: true });
			await run("rabbitmq-server", ["-detached"], { env: this.env() });
			this.running = true;
			await this.ctl("wait", this.pidFile, "--timeout", "120");
		}
		await waitPort(this.port, true, "RabbitMQ");
	}

	/** Stop the broker application: every connection drops; durable queues and persistent messages stay. */
	async stop(): Promise<void> {
		await this.ctl("stop_app");
		await waitPort(this.port, false, "RabbitMQ");
	}

	async restart(): Promise<void> {
		await this.stop();
		await this.start();
	}

	/** kill -9 the node's beam process (by its pid file): no goodbye to clients or to the other members of a cluster. */
	async kill9(): Promise<void> {
		const pid = Number(readFileSync(this.pidFile, "utf8").trim());
		process.kill(pid, "SIGKILL");
		this.running = false;
		await waitPort(this.port, false, "RabbitMQ");
	}

	async destroy(): Promise<void> {
		if (!this.dir) return;
		if (this.running) await this.ctl("stop").catch(() => undefined);
		this.running = false;
		rmSync(this.dir, { recursive: true, force: true });
		this.dir = "";
	}

	/** rabbitmqctl on this node; resolves with what it printed. */
	async ctl(...args: string[]): Promise<string> {
		const { stdout } = await run("rabbitmqctl", ["-n", this.node, ...args], { env: this.env(), maxBuffer: 16 * 1024 * 1024 });
		return stdout;
	}

	/** Another CLI tool of RabbitMQ's (rabbitmq-queues, rabbitmq-diagnostics) on this node. */
	async cli(tool: string, ...args: string[]): Promise<string> {
		const { stdout } = await run(tool, ["-n", this.node, ...args], { env: this.env(), maxBuffer: 16 * 1024 * 1024 });
		return stdout;
	}

	private env(): NodeJS.ProcessEnv {
		return { ...process.env, RABBITMQ_CONF_ENV_FILE: this.envFile };
	}

	private async prepare(): Promise<void> {
		this.port = await freePort();
		const distPort = await freePort();
		this.node = `${this.name}${this.port}@localhost`;
		this.dir = mkdtempSync(path.join(os.tmpdir(), "cg-rabbit-"));
		mkdirSync(path.join(this.dir, "mnesia"));
		mkdirSync(path.join(this.dir, "log"));
		writeFileSync(path.join(this.dir, "plugins"), "[].\n");
		// loopback only, and guest allowed from there
		writeFileSync(path.join(this.dir, "rabbitmq.conf"), `listeners.tcp.local = 127.0.0.1:${this.port}\nloopback_users = none\n`);
		this.envFile = path.join(this.dir, "env.conf");
		writeFileSync(
			this.envFile,
			[
				`NODENAME=${this.node}`,
				`NODE_PORT=${this.port}`,
				`DIST_PORT=${distPort}`,
				`MNESIA_BASE=${this.dir}/mnesia`,
				`LOG_BASE=${this.dir}/log`,
				`PID_FILE=${this.pidFile}`,
				`ENABLED_PLUGINS_FILE=${this.dir}/plugins`,
				`CONFIG_FILE=${this.dir}/rabbitmq`,
				"ERL_EPMD_ADDRESS=127.0.0.1",
			].join("\n"),
		);
		const { stdout } = await run("id", ["-u", "rabbitmq"]);
		const { stdout: gid } = await run("id", ["-g", "rabbitmq"]);
		for (const sub of ["", "mnesia", "log", "plugins", "rabbitmq.conf", "env.conf"]) {
			chownSync(path.join(this.dir, sub), Number(stdout), Number(gid));
		}
	}
}

/** A queue as `rabbitmqctl list_queues name durable type members online` reports it. */
export interface ClusterQueue {
	name: string;
	durable: boolean;
	type: string;
	/** the nodes holding a replica (a quorum queue's members); empty for a classic queue */
	members: string[];
	/** the members running now */
	online: string[];
}

/**
 * A RabbitMQ cluster of its own: `size` PrivateRabbit nodes on loopback, the first one booted
 * alone, the others joined to it (`stop_app`, `join_cluster`, `start_app`). `url` lists them all,
 * separated by `;`, first node first (what TRANSPORTER takes).
 */
export class PrivateRabbitCluster {
	readonly nodes: PrivateRabbit[];

	constructor(size = 3) {
		this.nodes = Array.from({ length: size }, (_, i) => new PrivateRabbit(`cluster${i + 1}-`));
	}

	get urls(): string[] {
		return this.nodes.map((node) => node.url);
	}

	get url(): string {
		return this.urls.join(";");
	}

	async start(): Promise<void> {
		await Promise.all(this.nodes.map((node) => node.start()));
		const [first, ...others] = this.nodes;
		// one at a time: two nodes joining at once may both reset against a half-updated schema
		for (const node of others) {
			await node.ctl("stop_app");
			await node.ctl("join_cluster", first.node);
			await node.ctl("start_app");
		}
		const running = await this.runningNodes(first);
		if (running.length !== this.nodes.length)
			throw new Error(`RabbitMQ cluster: ${running.length} of ${this.nodes.length} nodes running (${running.join(", ")})`);
	}

	/** The cluster's running nodes as `node` sees them. */
	async runningNodes(node: PrivateRabbit = this.nodes[0]): Promise<string[]> {
		const status = JSON.parse(await node.ctl("cluster_status", "--formatter", "json")) as { running_nodes: string[] };
		return status.running_nodes;
	}

	/** Queues whose names start with `prefix`, with their type and members, asked of `node` (any running one). */
	async queues(prefix: string, node: PrivateRabbit = this.nodes[this.nodes.length - 1]): Promise<ClusterQueue[]> {
		const rows = JSON.parse(await node.ctl("list_queues", "-q", "--formatter", "json", "name", "durable", "type", "members", "online")) as Array<{
			name: string;
			durable: boolean;
			type: string;
			members?: string[] | "";
			online?: string[] | "";
		}>;
		const list = (value: string[] | "" | undefined) => (Array.isArray(value) ? value : []);
		return rows
			.filter((row) => row.name.startsWith(prefix))
			.map((row) => ({ name: row.name, durable: row.durable, type: row.type, members: list(row.members), online: list(row.online) }));
	}

	/**
	 * For failure messages: a `rabbitmqctl list_*` table (`what`: queues, consumers, channels) with
	 * `columns`, as JSON rows, asked of the running node `node`; the error's text if it cannot answer.
	 */
	async table(
		what: "queues" | "consumers" | "channels" | "bindings",
		columns: string[],
		node: PrivateRabbit = this.nodes[this.nodes.length - 1],
	): Promise<unknown[] | string> {
		try {
			return JSON.parse(await node.ctl(`list_${what}`, "-q", "--formatter", "json", "--timeout", "20", ...columns)) as unknown[];
		} catch (err) {
			return `list_${what} failed: ${(err as Error).message}`;
		}
	}

	async destroy(): Promise<void> {
		await Promise.all(this.nodes.map((node) => node.destroy()));
	}
}

/** A Redis server of its own, in memory only like the system's. */
export class PrivateRedis {
	port = 0;

	get url(): string {
		return `redis://127.0.0.1:${this.port}`;
	}

	async start(): Promise<void> {
		if (!this.port) this.port = await freePort();
		await run("redis-server", [
			"--daemonize",
			"yes",
			"--bind",
			"127.0.0.1",
			"--port",
			String(this.port),
			"--save",
			"",
			"--appendonly",
			"no",
			"--dir",
			os.tmpdir(),
		]);
		await waitPort(this.port, true, "Redis");
	}

	async stop(): Promise<void> {
		await run("redis-cli", ["-p", String(this.port), "shutdown", "nosave"]).catch(() => undefined);
		await waitPort(this.port, false, "Redis");
	}

	async destroy(): Promise<void> {
		if (this.port && (await portOpen(this.port))) await this.stop();
	}
}

/** A PostgreSQL cluster of its own (initdb in a temp folder), trust auth for root. */
export class PrivatePostgres {
	port = 0;
	private dir = "";
	private readonly bin = "/usr/lib/postgresql/15/bin";

	/** URI of a database in this cluster (created by createDatabase). */
	uri(database: string): string {
		return `postgres://root@127.0.0.1:${this.port}/${database}`;
	}

	async start(): Promise<void> {
		if (!this.dir) {
			this.port = await freePort();
			this.dir = mkdtempSync(path.join(os.tmpdir(), "cg-pg-"));
			const { stdout: uid } = await run("id", ["-u", "postgres"]);
			const { stdout: gid } = await run("id", ["-g", "postgres"]);
			chownSync(this.dir, Number(uid), Number(gid));
			await this.asPostgres([`${this.bin}/initdb`, "-D", `${this.dir}/data`, "-U", "root", "--auth=trust", "-E", "UTF8"]);
		}
		await this.asPostgres([
			`${this.bin}/pg_ctl`,
			"-D",
			`${this.dir}/data`,
			"-l",
			`${this.dir}/log`,
			"-w",
			"-o",
			`-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`,
			"start",
		]);
		await waitPort(this.port, true, "PostgreSQL");
	}

	async stop(): Promise<void> {
		await this.asPostgres([`${this.bin}/pg_ctl`, "-D", `${this.dir}/data`, "-m", "fast", "-w", "stop"]);
		await waitPort(this.port, false, "PostgreSQL");
	}

	async createDatabase(name: string): Promise<string> {
		await this.asPostgres([`${this.bin}/psql`, "-h", "127.0.0.1", "-p", String(this.port), "-U", "root", "-d", "postgres", "-c", `CREATE DATABASE "${name}"`]);
		return this.uri(name);
	}

	async dropDatabase(name: string): Promise<void> {
		await this.asPostgres([
			`${this.bin}/psql`,
			"-h",
			"127.0.0.1",
			"-p",
			String(this.port),
			"-U",
			"root",
			"-d",
			"postgres",
			"-c",
			`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`,
		]);
	}

	async destroy(): Promise<void> {
		if (!this.dir) return;
		await this.stop().catch(() => undefined);
		rmSync(this.dir, { recursive: true, force: true });
		this.dir = "";
	}

	private async asPostgres(argv: string[]): Promise<void> {
		await run("runuser", ["-u", "postgres", "--", ...argv]);
	}
}
