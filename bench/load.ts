/**
 * An HTTP load generator written in node: a child process (bench/load-worker.ts) with keep-alive
 * sockets, fixed concurrency and a fixed number of requests, or a fixed offered rate; it answers
 * throughput and latency percentiles. Requests are described, not coded, so that they cross the
 * process boundary: `{i}` in `path`/`body` is the request's index, `{id}` is `ids[i % ids.length]`.
 */
import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
import { progress } from "./lib";

export const ROOT = path.resolve(__dirname, "..");

export interface LoadSpec {
	/** base URL, e.g. http://127.0.0.1:3000/api */
	url: string;
	method: "GET" | "POST" | "PUT" | "DELETE";
	path: string;
	body?: string;
	ids?: number[];
	/** index of the first request ({i}); lets a warm-up and the measured run use distinct values */
	start?: number;
	/** closed loop: requests in flight at once */
	concurrency: number;
	count: number;
	/** open loop instead: requests per second, whatever the answers' pace */
	rate?: number;
}

export interface LoadResult {
	count: number;
	/** 2xx answers */
	ok: number;
	failed: number;
	/** count by HTTP status ("network" for no answer) */
	statuses: Record<string, number>;
	sampleErrors: string[];
	seconds: number;
	/** 2xx answers per second */
	perSecond: number;
	p50: number;
	p95: number;
	p99: number;
	max: number;
}

/**
 * Renames at an offered rate, every `every`-th one timed until a goal of the renamed client shows
 * the new name (`GET /goals/:id`, polled every `pollMs` from the rename's answer).
 */
export interface PropagationSpec {
	url: string;
	rate: number;
	count: number;
	ids: number[];
	/** [clientId, goalId]: the goal read for each client */
	goals: Array<[number, number]>;
	every: number;
	/** names are `<namePrefix> {i}`: a later rename of the same client also counts as seen */
	namePrefix: string;
	start?: number;
	pollMs: number;
	timeoutMs: number;
}

export interface PropagationResult {
	/** the renames themselves */
	renames: LoadResult;
	/** ms from each timed rename's answer to the first read that showed it, ascending */
	latencies: number[];
	/** timed renames never seen within timeoutMs */
	lost: number;
}

type Outcome = LoadResult | PropagationResult;

/** One case of LoadGenerator.measureRounds. */
export interface RoundCase {
	label: string;
	spec: LoadSpec;
	before?(): Promise<void>;
	after?(measured: boolean): Promise<void>;
}

export class LoadGenerator {
	private nextId = 0;
	private readonly pending = new Map<number, { resolve: (r: Outcome) => void; reject: (e: Error) => void }>();

	private constructor(private readonly child: ChildProcess) {
		child.on("message", (message: { id: number; result?: Outcome; error?: string }) => {
			const waiter = this.pending.get(message.id);
			this.pending.delete(message.id);
			if (message.result) waiter?.resolve(message.result);
			else waiter?.reject(new Error(`load generator: ${message.error}`));
		});
		child.on("exit", (code) => {
			for (const waiter of this.pending.values()) waiter.reject(new Error(`load generator exited (${code})`));
			this.pending.clear();
		});
	}

	static start(): LoadGenerator {
		const child = fork(path.join(__dirname, "load-worker.ts"), [], {
			cwd: ROOT,
			execArgv: ["--import", "tsx"],
			stdio: ["ignore", "inherit", "inherit", "ipc"],
		});
		return new LoadGenerator(child);
	}

	private send(message: { spec: LoadSpec } | { propagation: PropagationSpec }): Promise<Outcome> {
		const id = this.nextId++;
		return new Promise((resolve, reject) => {
			this.pending.set(id, { resolve, reject });
			this.child.send({ id, ...message });
		});
	}

	run(spec: LoadSpec): Promise<LoadResult> {
		return this.send({ spec }) as Promise<LoadResult>;
	}

	propagation(spec: PropagationSpec): Promise<PropagationResult> {
		return this.send({ propagation: spec }) as Promise<PropagationResult>;
	}

	/** A warm-up run (not counted), then the measured one, each logged to stderr. */
	async measure(label: string, spec: LoadSpec, warmup: number): Promise<LoadResult> {
		if (warmup > 0) {
			progress(`${label}: warm-up, ${warmup} requests`);
			const warm = await this.run({ ...spec, count: warmup, start: (spec.start ?? 0) + 1_000_000 });
			if (warm.failed > 0) progress(`${label}: warm-up had ${warm.failed} failures: ${warm.sampleErrors.join(" / ")}`);
		}
		progress(`${label}: ${spec.count} requests, ${spec.rate ? `${spec.rate}/s offered` : `concurrency ${spec.concurrency}`}`);
		const result = await this.run(spec);
		progress(
			`${label}: ${result.perSecond.toFixed(0)} ok/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms` +
				(result.failed > 0
					? `, ${result.failed} FAILED ${JSON.stringify(result.statuses)}, e.g. ${result.sampleErrors
							.slice(0, 2)
							.map((e) => e.slice(0, 160))
							.join(" / ")}`
					: ""),
		);
		return result;
	}

	/**
	 * Cases measured in alternating rounds (A, B, C, A, B, C …) after one warm-up each, so that a
	 * machine that gets faster or slower during the run (a shared 2-core VM does) weighs on all
	 * alike. Each round takes its share of `count` with its own `{i}` range. A case's `before` and
	 * `after` run around each of its rounds (`after` also after its warm-up, with `measured`
	 * false): to let the system settle, and to read its CPU counters.
	 */
	async measureRounds(cases: RoundCase[], warmup: number, rounds: number): Promise<LoadResult[]> {
		const runs: LoadResult[][] = cases.map(() => []);
		for (const [n, { label, spec, after }] of cases.entries()) {
			if (warmup > 0) await this.run({ ...spec, count: warmup, start: (spec.start ?? 0) + 1_000_000 });
			await after?.(false);
			const others = cases.filter((_, m) => m !== n).map((c) => c.label);
			progress(`${label}: ${spec.count} requests in ${rounds} rounds, alternating with ${others.join(", ")}`);
		}
		for (let round = 0; round < rounds; round++) {
			for (const [n, { spec, before, after }] of cases.entries()) {
				const count = Math.ceil(spec.count / rounds);
				await before?.();
				runs[n].push(await this.run({ ...spec, count, start: (spec.start ?? 0) + round * count }));
				await after?.(true);
			}
		}
		const combined = runs.map(combine);
		for (const [n, { label }] of cases.entries()) {
			const r = combined[n];
			progress(
				`${label}: ${r.perSecond.toFixed(0)} ok/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms` +
					(r.failed > 0 ? `, ${r.failed} FAILED ${JSON.stringify(r.statuses)}, e.g. ${r.sampleErrors.slice(0, 2).join(" / ")}` : ""),
			);
		}
		return combined;
	}

	close(): void {
		if (this.child.connected) this.child.disconnect();
	}
}

/** Rounds of one case as one result: counts and time summed; latency percentiles the rounds' median. */
export function combine(rounds: LoadResult[]): LoadResult {
	const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
	const statuses: Record<string, number> = {};
	for (const round of rounds) for (const [status, n] of Object.entries(round.statuses)) statuses[status] = (statuses[status] ?? 0) + n;
	const ok = rounds.reduce((sum, round) => sum + round.ok, 0);
	const seconds = rounds.reduce((sum, round) => sum + round.seconds, 0);
	return {
		count: rounds.reduce((sum, round) => sum + round.count, 0),
		ok,
		failed: rounds.reduce((sum, round) => sum + round.failed, 0),
		statuses,
		sampleErrors: rounds.flatMap((round) => round.sampleErrors).slice(0, 5),
		seconds,
		perSecond: ok / seconds,
		p50: median(rounds.map((round) => round.p50)),
		p95: median(rounds.map((round) => round.p95)),
		p99: median(rounds.map((round) => round.p99)),
		max: Math.max(...rounds.map((round) => round.max)),
	};
}

/** A short reason when a run had failed requests (a figure made of errors would lie). */
export function failures(result: LoadResult): string | undefined {
	if (result.failed === 0) return undefined;
	const statuses = Object.entries(result.statuses)
		.filter(([status]) => !/^2/.test(status))
		.map(([status, n]) => `${n}× ${status}`)
		.join(", ");
	return `${result.failed} of ${result.count} failed: ${statuses}`;
}
