/** Small shared pieces of the benchmark scripts: timing, percentiles and a printed table. */
import { performance } from "node:perf_hooks";

export interface Stats {
	count: number;
	seconds: number;
	perSecond: number;
	p50: number;
	p95: number;
	p99: number;
}

function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return 0;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Run `op` `count` times with `concurrency` workers; latency in ms per call. */
export async function measure(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Stats> {
	const latencies: number[] = [];
	let next = 0;
	const started = performance.now();
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (next < count) {
				const i = next++;
				const t0 = performance.now();
				await op(i);
				latencies.push(performance.now() - t0);
			}
		}),
	);
	const seconds = (performance.now() - started) / 1000;
	latencies.sort((a, b) => a - b);
	return {
		count,
		seconds,
		perSecond: count / seconds,
		p50: percentile(latencies, 50),
		p95: percentile(latencies, 95),
		p99: percentile(latencies, 99),
	};
}

export function printTable(title: string, rows: Array<[string, Stats]>): void {
	console.log(`\n${title}`);
	console.log("| case | ops | ops/s | p50 ms | p95 ms | p99 ms |");
	console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
	for (const [name, s] of rows) {
		console.log(`| ${name} | ${s.count} | ${s.perSecond.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p95.toFixed(2)} | ${s.p99.toFixed(2)} |`);
	}
}

export function progress(message: string): void {
	process.stderr.write(`… ${message}\n`);
}
