/** `npm run bench`: every benchmark, one after the other, each with its own baseline. */
import { spawnSync } from "node:child_process";
import path from "node:path";

const scripts = ["http.ts", "catch-up.ts"];
let failed = 0;
for (const script of scripts) {
	console.log(`\n=== bench/${script} ===`);
	const run = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, script)], { stdio: "inherit" });
	if (run.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
