/**
 * Private RabbitMQ, Redis and PostgreSQL servers on their own ports and data folders, for the
 * fault tests: they stop and restart these at will without disturbing any other suite, which
 * keeps using the machine's shared servers.
 */
import { execFile } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, portOpen } from "./node-process";
import { waitFor } from "./wait";

const run = promisify(execFile);

async function waitPort(port: number, open: boolean, what: string, timeoutMs = 60_000): Promise<void> {
	await waitFor(async () => (await portOpen(port)) === open, { timeoutMs, intervalMs: 100, what: `${what} port ${port} ${open ? "open" : "closed"}` });
}

/** A RabbitMQ node of its own (`chaos-…@localhost`), run as the rabbitmq user like the system's. */
export class PrivateRabbit {
	port = 0;
	private node = "";
	private dir = "";
	private envFile = "";

	get url(): string {
		return `amqp://guest:guest@127.0.0.1:${this.port}`;
	}

	async start(): Promise<void> {
		if (!this.dir) {
			this.port = await freePort();
			const distPort = await freePort();
			this.node = `chaos${this.port}@localhost`;
			this.dir = mkdtempSync(path.join(os.tmpdir(), "cg-rabbit-"));
			mkdirSync(path.join(this.dir, "mnesia"));
			mkdirSync(path.join(this.dir, "log"));
			writeFileSync(path.join(this.dir, "plugins"), "[].\n");
			writeFileSync(path.join(this.dir, "rabbitmq.conf"), "loopback_users = none\n");
			this.envFile = path.join(this.dir, "env.conf");
			writeFileSync(
				this.envFile,
				[
					`NODENAME=${this.node}`,
					`NODE_PORT=${this.port}`,
					`DIST_PORT=${distPort}`,
					`MNESIA_BASE=${this.dir}/mnesia`,
					`LOG_BASE=${this.dir}/log`,
					`PID_FILE=${this.dir}/pid`,
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
			await run("rabbitmq-server", ["-detached"], { env: { ...process.env, RABBITMQ_CONF_ENV_FILE: this.envFile } });
		} else {
			await this.ctl("start_app");
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

	async destroy(): Promise<void> {
		if (!this.dir) return;
		await this.ctl("stop").catch(() => undefined);
		rmSync(this.dir, { recursive: true, force: true });
		this.dir = "";
	}

	private async ctl(command: string): Promise<void> {
		await run("rabbitmqctl", ["-n", this.node, command], { env: { ...process.env, RABBITMQ_CONF_ENV_FILE: this.envFile } });
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
