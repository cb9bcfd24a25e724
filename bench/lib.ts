/**
 * Shared pieces of the benchmark scripts: smoke mode, timing, percentiles, process RSS, and the
 * one result table every script ends with:
 *
 *   | case | figure | floor | ratio | target | met? |
 *
 * `figure` is what the project does; `floor` is the same work done by the bare libraries in the
 * same run, on the same machine; `ratio` is figure ÷ floor for throughputs (higher is better,
 * 1.00 = as fast as the bare libraries) and floor ÷ figure for latencies and memory (also higher
 * is better). `target` is either a ratio (`ratio >= 0.5`) or an absolute bound (`p99 <= 30 ms`).
 *
 * The embedded and cluster scripts add a second table, the same cases beside the peer (what a
 * user would write instead: bench/peer/), `| case | project | peer | project/peer |`, and the
 * cluster a third, CPU ms per request per process (bench/proc.ts).
 */
import { readFileSync } from "node:fs";

/** `BENCH_SMOKE=1` or `--smoke`: every case for a few seconds only, to check that the scripts run. */
export const SMOKE = process.env.BENCH_SMOKE === "1" || process.argv.includes("--smoke");

/** `full` in a real run, `smoke` in smoke mode. */
export function size<T>(full: T, smoke: T): T {
	return SMOKE ? smoke : full;
}

export function progress(message: string): void {
	process.stderr.write(`… ${message}\n`);
}

/** A message nobody should miss (a skipped benchmark, failed requests). */
export function loud(message: string): void {
	process.stderr.write(`\n*** ${message} ***\n\n`);
}

export function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return 0;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Resident set size of a process in MiB, from /proc (VmRSS); null when it cannot be read. */
export function rssOfPid(pid: number | undefined): number | null {
	if (!pid) return null;
	try {
		const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
		return match ? Number(match[1]) / 1024 : null;
	} catch {
		return null;
	}
}

export function mib(bytes: number): number {
	return bytes / 1048576;
}

// ---------------------------------------------------------------------------------------------
// Results

export interface Result {
	case: string;
	figure: string;
	floor: string;
	/** see the header of this file: 1.00 means as good as the floor, higher is better */
	ratio: number | null;
	target: string;
	met: boolean;
	/** the case could not be measured properly (failed requests in a closed loop): the script exits 1 */
	problem?: string;
	/** the case was measured but the target cannot be met as measured (e.g. requests refused under an offered rate) */
	note?: string;
}

/** Why a row cannot be "met": a problem (the script fails) or a note (a plain miss). */
export interface Caveats {
	problem?: string;
	note?: string;
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

/** "1234 req/s (p50 3.1 ms, p99 9.8 ms)" */
export function describeRate(perSecond: number, unit: string, p50?: number, p99?: number): string {
	const digits = perSecond >= 100 ? 0 : 1;
	const latency = p50 === undefined || p99 === undefined ? "" : ` (p50 ${fixed(p50, 1)} ms, p99 ${fixed(p99, 1)} ms)`;
	return `${fixed(perSecond, digits)} ${unit}${latency}`;
}

/** A throughput: ratio = figure ÷ floor, met when ratio >= target. */
export function throughputResult(
	name: string,
	figure: { value: number; text: string },
	floor: { value: number; text: string },
	targetRatio: number,
	caveats: Caveats = {},
): Result {
	const ratio = floor.value > 0 ? figure.value / floor.value : null;
	return {
		case: name,
		figure: figure.text,
		floor: floor.text,
		ratio,
		target: `ratio >= ${targetRatio.toFixed(1)}`,
		met: !caveats.problem && !caveats.note && ratio !== null && ratio >= targetRatio,
		...caveats,
	};
}

/** Something that must stay under an absolute bound (latency, memory): ratio = floor ÷ figure, met when figure <= bound. */
export function boundResult(
	name: string,
	figure: { value: number | null; text: string },
	floor: { value: number | null; text: string },
	bound: { value: number; text: string },
	caveats: Caveats = {},
): Result {
	const ratio = figure.value && floor.value && Number.isFinite(figure.value) ? floor.value / figure.value : null;
	return {
		case: name,
		figure: figure.text,
		floor: floor.text,
		ratio,
		target: bound.text,
		met: !caveats.problem && !caveats.note && figure.value !== null && figure.value <= bound.value,
		...caveats,
	};
}

export const TABLE_HEADER = "| case | figure | floor | ratio | target | met? |";

export function formatResults(results: Result[]): string {
	const lines = [TABLE_HEADER, "| --- | --- | --- | ---: | --- | --- |"];
	for (const r of results) {
		const why = [r.problem, r.note].filter(Boolean).join("; ");
		const met = r.met ? "met" : why ? `missed (${why})` : "missed";
		lines.push(`| ${r.case} | ${r.figure} | ${r.floor} | ${r.ratio === null ? "n/a" : r.ratio.toFixed(2)} | ${r.target} | ${met} |`);
	}
	return lines.join("\n");
}

/** The final table of a script, on stdout, with its notes under it. */
export function printResults(title: string, results: Result[], notes: string[] = []): void {
	console.log(`\n### ${title}${SMOKE ? " (SMOKE: tiny runs, the figures mean nothing)" : ""}\n`);
	console.log(formatResults(results));
	if (notes.length > 0) console.log(`\n${notes.map((note) => `- ${note}`).join("\n")}`);
}

// ---------------------------------------------------------------------------------------------
// The peer: the same cases run by a plain Moleculer program (bench/peer/), in the same run

/**
 * A row of the project beside the peer. `ratio` is the plain quotient project ÷ peer of the
 * figures named: for req/s below 1 means the project is slower; for ms, CPU and MiB above 1
 * means it costs more.
 */
export interface PeerRow {
	case: string;
	project: string;
	peer: string;
	ratio: number | null;
}

/** A quotient, or null when either side is missing. */
export function quotient(project: number | null, peer: number | null): number | null {
	return project === null || peer === null || peer === 0 || !Number.isFinite(project) || !Number.isFinite(peer) ? null : project / peer;
}

/** Any table, on stdout: a title, a header row and its rows, notes under it. */
export function printTable(title: string, header: string[], rows: string[][], notes: string[] = []): void {
	console.log(`\n### ${title}${SMOKE ? " (SMOKE: tiny runs, the figures mean nothing)" : ""}\n`);
	console.log(`| ${header.join(" | ")} |`);
	console.log(`| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`);
	for (const row of rows) console.log(`| ${row.join(" | ")} |`);
	if (notes.length > 0) console.log(`\n${notes.map((note) => `- ${note}`).join("\n")}`);
}

export function printPeerTable(title: string, rows: PeerRow[], notes: string[] = []): void {
	printTable(
		title,
		["case", "project", "peer", "project/peer"],
		rows.map((r) => [r.case, r.project, r.peer, r.ratio === null ? "n/a" : r.ratio.toFixed(2)]),
		notes,
	);
}

/** "3.42" ms, or "n/a" */
export function cpuText(ms: number | null): string {
	return ms === null ? "n/a" : ms.toFixed(2);
}

/** Exit 1 when a case could not be measured properly (failed requests): its figure would lie. */
export function exitCodeFor(results: Result[]): number {
	return results.some((r) => r.problem) ? 1 : 0;
}
