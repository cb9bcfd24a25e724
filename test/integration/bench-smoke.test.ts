/**
 * The embedded benchmark scripts still run: each is started in smoke mode as a process of its own
 * (`node --import tsx bench/<script> --smoke`, the way `npm run bench` starts them), must exit 0
 * and must end with its result table: a figure, a floor, a numeric ratio and met/missed per case.
 * The ratios' values are not asserted (no timing assertions: that is what the benchmarks are for).
 */
import { spawn } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const HEADER = "| case | figure | floor | ratio | target | met? |";

interface Run {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
}

function runBench(script: string): Promise<Run> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, ["--import", "tsx", path.join("bench", script), "--smoke"], {
			cwd: ROOT,
			env: { ...process.env, BENCH_SMOKE: "1" },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
		child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
		child.once("error", reject);
		child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
	});
}

/** The rows of the result table, as cells. */
function tableRows(stdout: string): string[][] {
	const lines = stdout.split("\n");
	const start = lines.indexOf(HEADER);
	if (start < 0) return [];
	const rows: string[][] = [];
	for (const line of lines.slice(start + 2)) {
		if (!line.startsWith("|")) break;
		rows.push(
			line
				.split("|")
				.slice(1, -1)
				.map((cell) => cell.trim()),
		);
	}
	return rows;
}

describe("benchmark scripts in smoke mode", () => {
	test.each(["http.ts", "catch-up.ts", "bootstrap.ts"])(
		"bench/%s --smoke exits 0 and prints its table with a ratio per case",
		async (script) => {
			const run = await runBench(script);
			const context = `\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr.slice(-4000)}`;
			expect({ code: run.code, signal: run.signal, context }).toEqual({ code: 0, signal: null, context });
			expect(run.stdout).toContain(HEADER);
			const rows = tableRows(run.stdout);
			expect(rows.length).toBeGreaterThan(0);
			for (const [name, figure, floor, ratio, target, met] of rows) {
				expect({ name, figure, floor, target }).toEqual({
					name: expect.stringMatching(/\S/),
					figure: expect.stringMatching(/\d/),
					floor: expect.stringMatching(/\d/),
					target: expect.stringMatching(/\d/),
				});
				expect(ratio).toMatch(/^\d+\.\d+$/);
				expect(met).toMatch(/^(met|missed)\b/);
			}
		},
		60_000,
	);
});
