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
	 * Two cases measured in alternating rounds (A, B, A, B …) after one warm-up each, so that a
	 * machine that gets faster or slower during the run (a shared 2-core VM does) weighs on both
	 * alike. Each round takes its share of `count` with its own `{i}` range.
	 */
	async measureAlternating(
		a: { label: string; spec: LoadSpec },
		b: { label: string; spec: LoadSpec },
		warmup: number,
		rounds: number,
	): Promise<[LoadResult, LoadResult]> {
		const runs: [LoadResult[], LoadResult[]] = [[], []];
		for (const [n, { label, spec }] of [a, b].entries()) {
			if (warmup > 0) await this.run({ ...spec, count: warmup, start: (spec.start ?? 0) + 1_000_000 });
			progress(`${label}: ${spec.count} requests in ${rounds} rounds, alternating with ${n === 0 ? b.label : a.label}`);
		}
		for (let round = 0; round < rounds; round++) {
			for (const [n, { spec }] of [a, b].entries()) {
				const count = Math.ceil(spec.count / rounds);
				runs[n].push(await this.run({ ...spec, count, start: (spec.start ?? 0) + round * count }));
			}
		}
		const combined = runs.map(combine) as [LoadResult, LoadResult];
		for (const [n, { label }] of [a, b].entries()) {
			progress(`${label}: ${combined[n].perSecond.toFixed(0)} ok/s, p50 ${combined[n].p50.toFixed(1)} ms, p99 ${combined[n].p99.toFixed(1)} ms`);
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
