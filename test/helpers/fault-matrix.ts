/**
 * The fault matrix, counted the way broker torture tests count: a writer makes client changes
 * and goal creations through REST while a fault strikes the cluster; afterwards every change the
 * API acknowledged must be in the services' state (each goal stored once), the goal service's
 * copy of the clients must equal the client service's state, and no entity's version may ever
 * have gone backwards in the copy. Used by the jest suite and by
 * `npm run chaos` (a larger load).
 */
import { METRICS } from "../../lib/constants";
import { Cluster, type ClusterInfra } from "./cluster";
import { client } from "./http";
import { replFaults } from "./node-process";
import { PrivatePostgres, PrivateRabbit, PrivateRedis } from "./private-infra";
import { waitFor } from "./wait";

export interface ScenarioResult {
	name: string;
	attempted: number;
	acknowledged: number;
	lost: number;
	/** goal creations stored more than once (a request redelivered after its commit, done again) */
	twice: number;
	/** deliveries the version guard skipped as already applied (at-least-once at work) */
	duplicates: number;
	/** ms from the end of the writes (fault healed) to the copy equalling the truth */
	convergeMs: number;
	/** times a sampled version in the goal service's copy was lower than one seen before */
	regressions: number;
	/** answers to the changes that were not acknowledged, by HTTP status ("network" if none) */
	refused: Record<string, number>;
	/** what the gateway logged about the 5xx it answered (its detail never reaches the client) */
	gatewayErrors: string[];
}

interface Ack {
	version: number;
	name: string;
	deleted: boolean;
}

interface Row {
	id: number;
	name: string;
	email: string;
	version: number;
	deleted: boolean;
}

/** What the writer reports to the fault as it goes. */
export interface Progress {
	/** changes the writer will attempt in all */
	total: number;
	attempted: number;
	/** resolves once the writer has attempted `n` changes */
	reached(n: number): Promise<void>;
}

export type Fault = (env: FaultEnv, progress: Progress) => Promise<void>;

export interface FaultEnv {
	cluster: Cluster;
	rabbit: PrivateRabbit;
	redis: PrivateRedis;
	postgres: PrivatePostgres;
}

export class FaultMatrix {
	readonly rabbit = new PrivateRabbit();
	readonly redis = new PrivateRedis();
	readonly postgres = new PrivatePostgres();
	cluster!: Cluster;
	apiUrl = "";
	private tag = 0;

	async setUp(): Promise<void> {
		await Promise.all([this.rabbit.start(), this.redis.start(), this.postgres.start()]);
		const infra: ClusterInfra = {
			rabbitmq: this.rabbit.url,
			redis: this.redis.url,
			createDatabase: (name) => this.postgres.createDatabase(name),
			dropDatabase: (name) => this.postgres.dropDatabase(name),
			cleanQueues: false,
		};
		this.cluster = new Cluster({ CATCHUP_INTERVAL: "2000", FAULT_INJECTION: "1" }, infra);
		await this.cluster.setUp();
		// with its REPL: the fault "kill after a commit" is set through it (the faults action is private)
		await this.cluster.start("clients-1", "clients", {}, { repl: true });
		await Promise.all([this.cluster.start("goals-1", "goals"), this.cluster.start("goals-2", "goals")]);
		this.apiUrl = await this.cluster.startApi("api-1");
	}

	async tearDown(): Promise<void> {
		await this.cluster?.tearDown().catch(() => undefined);
		await Promise.all([this.rabbit.destroy(), this.redis.destroy(), this.postgres.destroy()]);
	}

	/** Run `changes` writes while `fault` strikes; returns the counts. */
	async run(name: string, changes: number, fault: Fault, onProgress?: (line: string) => void): Promise<ScenarioResult> {
		const tag = `s${++this.tag}`;
		const api = client(this.apiUrl);
		// Each fault strikes a healthy cluster: the previous one may still be settling (nodes
		// reconnect and rediscover each other after a broker restart).
		// the probe client owns the scenario's goals (it is never deleted, so its goals stay)
		let owner = 0;
		await waitFor(
			async () => {
				const res = await api.post("/clients", { name: `${tag} probe`, email: `${tag}-probe-${Date.now()}@chaos.test` });
				owner = res.body?.id ?? 0;
				return res.status === 201;
			},
			{ timeoutMs: 60_000, intervalMs: 250, what: `${name}: a healthy cluster before the fault\n${this.cluster.logs()}` },
		);
		const acks = new Map<number, Ack>();
		const goalsAcked: string[] = [];
		const ids: number[] = [];
		const waiters: Array<{ n: number; resolve: () => void }> = [];
		const progress: Progress = {
			total: changes,
			attempted: 0,
			reached: (n) => new Promise((resolve) => (progress.attempted >= n ? resolve() : waiters.push({ n, resolve }))),
		};
		const staleBefore = await this.staleCount();
		const gatewayLogFrom = this.cluster.nodes.get("api-1")?.output().length ?? 0;

		// Sample the copy while everything happens: a version must never go backwards.
		let regressions = 0;
		let sampling = true;
		const highest = new Map<number, number>();
		const sampler = (async () => {
			while (sampling) {
				const rows = await this.copy().catch(() => [] as Row[]);
				for (const row of rows) {
					if ((highest.get(row.id) ?? 0) > row.version) regressions++;
					highest.set(row.id, Math.max(highest.get(row.id) ?? 0, row.version));
				}
				await new Promise((resolve) => setTimeout(resolve, 100));
			}
		})();

		const faultDone = fault({ cluster: this.cluster, rabbit: this.rabbit, redis: this.redis, postgres: this.postgres }, progress);
		let acknowledged = 0;
		const refused: Record<string, number> = {};
		for (let i = 0; i < changes; i++) {
			const status = await this.change(api, tag, i, ids, acks, { owner, acked: goalsAcked }).catch(() => "network");
			if (status === "ok") acknowledged++;
			else refused[status] = (refused[status] ?? 0) + 1;
			progress.attempted = i + 1;
			for (const waiter of waiters.filter((w) => w.n <= progress.attempted)) waiter.resolve();
			if ((i + 1) % 50 === 0) onProgress?.(`${name}: ${i + 1}/${changes} changes, ${acknowledged} acknowledged`);
		}
		await faultDone;
		const healed = Date.now();

		await waitFor(
			async () => {
				const [truth, copy] = await Promise.all([this.truth(), this.copy()]);
				return truth.length > 0 && JSON.stringify(truth) === JSON.stringify(copy);
			},
			{ timeoutMs: 60_000, intervalMs: 200, what: `${name}: the goal service's copy to equal the clients table\n${this.cluster.logs()}` },
		);
		const convergeMs = Date.now() - healed;
		sampling = false;
		await sampler;

		const truth = new Map((await this.truth()).map((row) => [row.id, row]));
		let lost = 0;
		for (const [id, ack] of acks) {
			const row = truth.get(id);
			if (!row || row.version < ack.version || (ack.deleted && !row.deleted)) lost++;
		}
		const goals = await this.storedGoals(tag);
		lost += goalsAcked.filter((goalName) => !goals.has(goalName)).length;
		return {
			name,
			attempted: changes,
			acknowledged,
			lost,
			twice: [...goals.values()].filter((n) => n > 1).length,
			// counters restart with their node: a killed node's share is not in this figure
			duplicates: Math.max(0, (await this.staleCount()) - staleBefore),
			convergeMs,
			regressions,
			refused,
			gatewayErrors: (this.cluster.nodes.get("api-1")?.output() ?? "")
				.slice(gatewayLogFrom)
				.split("\n")
				.filter((line) => / failed:/.test(line)),
		};
	}

	/**
	 * One change: create a client, rename one, now and then delete one, or create a goal for the
	 * scenario's owner (through the goals replicas, which ask the client service whether the
	 * owner exists). "ok" if acknowledged, else the status.
	 */
	private async change(
		api: ReturnType<typeof client>,
		tag: string,
		i: number,
		ids: number[],
		acks: Map<number, Ack>,
		goals: { owner: number; acked: string[] },
	): Promise<string> {
		if (ids.length >= 20 && i % 4 === 3) {
			const goalName = `${tag} goal ${i}`;
			const res = await api.post("/goals", { clientId: goals.owner, goalName, targetAmount: 10 });
			if (res.status !== 201) return String(res.status);
			goals.acked.push(goalName);
			return "ok";
		}
		if (ids.length < 20 || i % 5 === 0) {
			const res = await api.post("/clients", { name: `${tag} ${i}`, email: `${tag}-${i}@chaos.test` });
			if (res.status !== 201) return String(res.status);
			ids.push(res.body.id);
			acks.set(res.body.id, { version: res.body.version, name: res.body.name, deleted: false });
			return "ok";
		}
		if (i % 17 === 0) {
			const id = ids.shift() as number;
			const res = await api.del(`/clients/${id}`);
			if (res.status !== 204) return String(res.status);
			const before = acks.get(id);
			acks.set(id, { version: (before?.version ?? 0) + 1, name: before?.name ?? "", deleted: true });
			return "ok";
		}
		const id = ids[i % ids.length];
		const res = await api.put(`/clients/${id}`, { name: `${tag} ${i} renamed` });
		if (res.status !== 200) return String(res.status);
		acks.set(id, { version: res.body.version, name: res.body.name, deleted: false });
		return "ok";
	}

	/** The scenario's goals as stored: name → rows. */
	private async storedGoals(tag: string): Promise<Map<string, number>> {
		const rows = await this.cluster.query<{ goalName: string; n: string }>(
			"goals",
			`SELECT "goalName", COUNT(*) AS n FROM goals WHERE "goalName" LIKE '${tag} goal %' GROUP BY "goalName"`,
		);
		return new Map(rows.map((row) => [row.goalName, Number(row.n)]));
	}

	private truth(): Promise<Row[]> {
		return this.cluster.query<Row>("clients", `SELECT id, name, email, version, ("deletedAt" IS NOT NULL) AS deleted FROM clients ORDER BY id`);
	}

	private copy(): Promise<Row[]> {
		return this.cluster.query<Row>("goals", `SELECT "clientId" AS id, name, email, version, deleted FROM client_projection ORDER BY "clientId"`);
	}

	private async staleCount(): Promise<number> {
		let total = 0;
		for (const node of ["goals-1", "goals-2"]) {
			total += await this.cluster.counter(node, METRICS.eventsStale).catch(() => 0);
		}
		return total;
	}
}

export function formatResults(results: ScenarioResult[]): string {
	const lines = [
		"| fault | attempted | acknowledged | refused (status × n) | lost | stored twice | duplicate deliveries | converged after | version regressions |",
		"| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
		...results.map(
			(r) =>
				`| ${r.name} | ${r.attempted} | ${r.acknowledged} | ${
					Object.entries(r.refused)
						.map(([status, n]) => `${status} × ${n}`)
						.join(", ") || "-"
				} | ${r.lost} | ${r.twice} | ${r.duplicates} | ${(r.convergeMs / 1000).toFixed(1)} s | ${r.regressions} |`,
		),
	];
	return lines.join("\n");
}

/** The faults of the matrix. */
export const FAULTS: Record<string, Fault> = {
	"rolling restart of the goals replicas (SIGTERM, one at a time)": async ({ cluster }, progress) => {
		for (const [turn, name] of ["goals-1", "goals-2"].entries()) {
			await progress.reached(Math.floor(progress.total * (0.25 + 0.35 * turn)));
			const node = cluster.nodes.get(name);
			if (!node) throw new Error(`${name} is not running`);
			const exit = await node.stop();
			if (exit !== 0) throw new Error(`${name} exited ${exit} on SIGTERM:\n${node.output()}`);
			cluster.nodes.delete(name);
			await cluster.start(name, "goals");
		}
	},
	"kill -9 a goals replica, restart it": async ({ cluster }, progress) => {
		await progress.reached(Math.floor(progress.total * 0.3));
		await cluster.nodes.get("goals-2")?.kill9();
		cluster.nodes.delete("goals-2");
		await progress.reached(Math.floor(progress.total * 0.6));
		await cluster.start("goals-2", "goals");
	},
	"restart RabbitMQ": async ({ rabbit }, progress) => {
		await progress.reached(Math.floor(progress.total * 0.3));
		await rabbit.restart();
	},
	"stop and restart Redis": async ({ redis }, progress) => {
		await progress.reached(Math.floor(progress.total * 0.3));
		await redis.stop();
		await progress.reached(Math.floor(progress.total * 0.6));
		await redis.start();
	},
	"restart PostgreSQL": async ({ postgres }, progress) => {
		await progress.reached(Math.floor(progress.total * 0.3));
		await postgres.stop();
		await progress.reached(Math.floor(progress.total * 0.5));
		await postgres.start();
	},
	"kill -9 clients after a commit, before its emit": async ({ cluster }, progress) => {
		await progress.reached(Math.floor(progress.total * 0.3));
		const node = cluster.nodes.get("clients-1");
		if (!node) throw new Error("clients-1 is not running");
		await replFaults(node, "clients", "crash-after-commit:1");
		await node.exited;
		cluster.nodes.delete("clients-1");
		await cluster.start("clients-1", "clients", {}, { repl: true });
	},
};
