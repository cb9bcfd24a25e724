/**
 * The real RabbitMQ, Redis and PostgreSQL on this machine, for suites that need them.
 * `jest.global-setup.ts` probes them once: with CI=true an unreachable server fails the run;
 * otherwise its suites are skipped with a loud notice (CONTRACT.md, "Starting it").
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import amqp from "amqplib";
import { Client } from "pg";
import { SOURCES } from "../../lib/constants";
import { streamNames } from "../../lib/relay/relay-rules";

export const INFRA_URLS = {
	rabbitmq: "amqp://guest:guest@127.0.0.1:5672",
	redis: "redis://127.0.0.1:6379",
	postgres: "postgres://root@127.0.0.1:5432",
} as const;

export type Infra = keyof typeof INFRA_URLS;

export const INFRA_PORTS: Record<Infra, number> = { rabbitmq: 5672, redis: 6379, postgres: 5432 };

export const INFRA_START_HINTS: Record<Infra, string> = {
	rabbitmq: "rabbitmq-server -detached",
	redis: 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no',
	postgres: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
};

/** `describe` when every server is reachable; otherwise a skipped suite with a loud notice. */
export function describeWithInfra(needs: Infra[], title: string, body: () => void): void {
	const missing = (process.env.INFRA_MISSING ?? "").split(",").filter((name) => needs.includes(name as Infra));
	if (missing.length === 0) {
		describe(title, body);
		return;
	}
	console.warn(`\n*** SKIPPED "${title}": ${missing.join(", ")} unreachable (with CI=true this fails) ***\n`);
	describe.skip(title, body);
}

/** A name unique to this run, for namespaces and databases. */
export function uniqueName(prefix: string): string {
	return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
}

async function admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
	const client = new Client({ connectionString: `${INFRA_URLS.postgres}/postgres` });
	await client.connect();
	try {
		return await work(client);
	} finally {
		await client.end();
	}
}

/** Create an empty PostgreSQL database and return its URI. */
export async function createDatabase(name: string): Promise<string> {
	await admin((client) => client.query(`CREATE DATABASE "${name}"`));
	return `${INFRA_URLS.postgres}/${name}`;
}

export async function dropDatabase(name: string): Promise<void> {
	await admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

export interface QueueInfo {
	name: string;
	durable: boolean;
	/** classic or quorum */
	type: string;
	messages: number;
	consumers: number;
	arguments: Record<string, unknown>;
}

/** Queues whose names start with `prefix`, as RabbitMQ itself reports them. */
export async function listQueues(prefix: string): Promise<QueueInfo[]> {
	const { stdout } = await promisify(execFile)(
		"rabbitmqctl",
		["list_queues", "-q", "--formatter", "json", "name", "durable", "type", "messages", "consumers", "arguments"],
		{ maxBuffer: 16 * 1024 * 1024 },
	);
	// rabbitmqctl prints arguments as [name, type, value] triples
	const rows = JSON.parse(stdout) as Array<Omit<QueueInfo, "arguments"> & { arguments: Array<[string, string, unknown]> }>;
	return rows
		.filter((row) => row.name.startsWith(prefix))
		.map((row) => ({ ...row, arguments: Object.fromEntries(row.arguments.map(([name, , value]) => [name, value])) }));
}

/** Delete every queue of a namespace (tests clean up after themselves). */
export async function deleteQueues(prefix: string): Promise<void> {
	const queues = await listQueues(prefix);
	if (queues.length === 0) return;
	const connection = await amqp.connect(INFRA_URLS.rabbitmq);
	try {
		const channel = await connection.createChannel();
		for (const queue of queues) await channel.deleteQueue(queue.name);
		await channel.close();
	} finally {
		await connection.close();
	}
}

/**
 * Delete the AMQP stream's queues and exchanges under `prefix` (a test's EVENT_STREAM_PREFIX):
 * on the shared broker they are global, and no test leaves messages behind. The contract's own
 * names (prefix "") are never deleted here.
 */
export async function deleteEventStream(prefix: string, url: string = INFRA_URLS.rabbitmq): Promise<void> {
	if (!prefix) return;
	const connection = await amqp.connect(url);
	try {
		const channel = await connection.createChannel();
		for (const source of Object.values(SOURCES)) {
			const names = streamNames(source, prefix);
			await channel.deleteQueue(names.queue.name);
			await channel.deleteQueue(names.queue.deadLetterQueue);
		}
		const names = streamNames(SOURCES.clients, prefix);
		await channel.deleteExchange(names.exchange);
		await channel.deleteExchange(names.deadLetterExchange);
		await channel.close();
	} finally {
		await connection.close();
	}
}
