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

/** Run one script with our stdout and stderr; resolves with its exit code and the table rows it printed. */
function runScript(script: string): Promise<{ code: number; rows: string[] }> {
	return new Promise((resolve) => {
		const args = ["--import", "tsx", path.join(__dirname, script), ...(SMOKE ? ["--smoke"] : [])];
		const child = spawn(process.execPath, args, { cwd: path.resolve(__dirname, ".."), stdio: ["ignore", "pipe", "inherit"] });
		let output = "";
		child.stdout.on("data", (chunk: Buffer) => {
			output += chunk.toString();
			process.stdout.write(chunk);
		});
		child.on("close", (code, signal) => {
			const rows = output.split("\n").filter((line) => line.startsWith("| ") && line !== TABLE_HEADER && !line.startsWith("| ---"));
			resolve({ code: code ?? (signal ? 1 : 0), rows });
		});
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

	const summary: string[] = [];
	const failed: string[] = [];
	for (const script of scripts) {
		console.log(`\n=== bench/${script}${SMOKE ? " --smoke" : ""} ===`);
		const { code, rows } = await runScript(script);
		summary.push(...rows);
		if (code !== 0) failed.push(script);
	}

	console.log(`\n## Summary${SMOKE ? " (SMOKE)" : ""}\n\n${TABLE_HEADER}\n| --- | --- | --- | ---: | --- | --- |\n${summary.join("\n")}`);
	if (missing.length > 0) console.log(`\nCLUSTER BENCHMARKS SKIPPED: ${missing.join(", ")} unreachable.`);
	if (failed.length > 0) {
		console.log(`\nFAILED (could not measure properly): ${failed.join(", ")}`);
		process.exitCode = 1;
	}
}

void main();
