/**
 * `npm run bench`: every benchmark, one after the other, each printing its figures next to floors
 * measured in the same run, then one summary of every table. `--smoke` (or BENCH_SMOKE=1) is
 * passed on: tiny runs that only show that the scripts work. The cluster benchmark runs only when
 * RabbitMQ, PostgreSQL and Redis are reachable; otherwise it is skipped, loudly.
 * (`bench/chaos.ts`, the fault matrix, is `npm run chaos`, not part of this.)
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { INFRA_PORTS, INFRA_START_HINTS, type Infra } from "../test/helpers/infra";
import { portOpen } from "../test/helpers/node-process";
import { loud, SMOKE, TABLE_HEADER } from "./lib";

const EMBEDDED = ["http.ts", "catch-up.ts", "bootstrap.ts"];
const CLUSTER = ["cluster.ts"];

/** A table a script printed: its header line, its separator line, its rows. */
interface Table {
	header: string;
	separator: string;
	rows: string[];
}

/** The tables in a script's output: a `| … |` line followed by a `| --- …` line, and the `|` lines after them. */
function tablesIn(output: string): Table[] {
	const lines = output.split("\n");
	const tables: Table[] = [];
	for (let i = 0; i + 1 < lines.length; i++) {
		if (!lines[i].startsWith("| ") || !lines[i + 1].startsWith("| ---")) continue;
		const table: Table = { header: lines[i], separator: lines[i + 1], rows: [] };
		for (i += 2; i < lines.length && lines[i].startsWith("|"); i++) table.rows.push(lines[i]);
		tables.push(table);
	}
	return tables;
}

/** Run one script with our stdout and stderr; resolves with its exit code and the tables it printed. */
function runScript(script: string): Promise<{ code: number; tables: Table[] }> {
	return new Promise((resolve) => {
		const args = ["--import", "tsx", path.join(__dirname, script), ...(SMOKE ? ["--smoke"] : [])];
		const child = spawn(process.execPath, args, { cwd: path.resolve(__dirname, ".."), stdio: ["ignore", "pipe", "inherit"] });
		let output = "";
		child.stdout.on("data", (chunk: Buffer) => {
			output += chunk.toString();
			process.stdout.write(chunk);
		});
		child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), tables: tablesIn(output) }));
	});
}

async function main(): Promise<void> {
	const names = Object.keys(INFRA_PORTS) as Infra[];
	const up = await Promise.all(names.map((name) => portOpen(INFRA_PORTS[name], 1000)));
	const missing = names.filter((_, i) => !up[i]);
	const scripts = [...EMBEDDED];
	if (missing.length === 0) scripts.push(...CLUSTER);
	else {
		const hints = missing.map((name) => `${name} (port ${INFRA_PORTS[name]}): ${INFRA_START_HINTS[name]}`).join("; ");
		loud(`CLUSTER BENCHMARKS SKIPPED: ${hints}`);
	}

	// rows of tables with the same header are gathered: the floors' table first, then the peer's, then CPU
	const summary = new Map<string, Table>([[TABLE_HEADER, { header: TABLE_HEADER, separator: "| --- | --- | --- | ---: | --- | --- |", rows: [] }]]);
	const failed: string[] = [];
	for (const script of scripts) {
		console.log(`\n=== bench/${script}${SMOKE ? " --smoke" : ""} ===`);
		const { code, tables } = await runScript(script);
		for (const table of tables) {
			const gathered = summary.get(table.header) ?? { ...table, rows: [] };
			gathered.rows.push(...table.rows);
			summary.set(table.header, gathered);
		}
		if (code !== 0) failed.push(script);
	}

	console.log(`\n## Summary${SMOKE ? " (SMOKE)" : ""}`);
	for (const table of summary.values()) console.log(`\n${[table.header, table.separator, ...table.rows].join("\n")}`);
	if (missing.length > 0) console.log(`\nCLUSTER BENCHMARKS SKIPPED: ${missing.join(", ")} unreachable.`);
	if (failed.length > 0) {
		console.log(`\nFAILED (could not measure properly): ${failed.join(", ")}`);
		process.exitCode = 1;
	}
}

void main();
