/**
 * Every server the benchmarks measure runs as compiled JavaScript, as `npm start` runs the
 * project (bin/run-compiled.js): the project's nodes through that very script, the peer and the
 * floor servers bundled here the same way (esbuild, packages left in node_modules). Through tsx
 * a process carries its loader and compiler (~35 MiB more RSS, a slower start), which would be
 * measured as the program's.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildSync } from "esbuild";

const ROOT = path.resolve(__dirname, "..");
const OUT = path.join(ROOT, "dist", "bench");

/** What starts a project node as `npm start` does. */
export const RUN_COMPILED = path.join(ROOT, "bin", "run-compiled.js");

/**
 * `entry` (a TypeScript file of the benchmarks) bundled into dist/bench/<name>-<hash of the
 * bundle>.js (~0.3 s; written once per content); returns the JavaScript file's path.
 */
export function compiled(entry: string): string {
	const name = path.basename(entry, ".ts");
	const built = buildSync({ ...options(entry), write: false, outfile: path.join(OUT, `${name}.js`) });
	const code = built.outputFiles[0].contents;
	const target = path.join(OUT, `${name}-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.js`);
	if (!existsSync(target)) {
		mkdirSync(OUT, { recursive: true });
		const temporary = `${target}.${process.pid}.tmp`;
		writeFileSync(temporary, code);
		// atomic: two benchmarks started together never run a half-written file
		renameSync(temporary, target);
	}
	return target;
}

function options(entry: string) {
	return {
		absWorkingDir: ROOT,
		entryPoints: [path.resolve(ROOT, entry)],
		bundle: true,
		packages: "external" as const,
		platform: "node" as const,
		format: "cjs" as const,
		target: "node20",
		logLevel: "error" as const,
	};
}
