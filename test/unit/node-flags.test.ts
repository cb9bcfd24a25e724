/**
 * node runs the program with the same flags wherever it starts (bin/node-flags.js): npm start and
 * npm run repl, the image's CMD, and the compiled nodes the benchmarks measure.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const NODE_FLAGS = require("../../bin/node-flags.js") as string[];

test("the flags are V8 settings node takes on its command line", () => {
	expect(NODE_FLAGS.length).toBeGreaterThan(0);
	for (const flag of NODE_FLAGS) expect(flag).toMatch(/^--[a-z-]+=\d+$/);
});

test.each(["start", "repl"])("npm run %s gives node the flags before the program", (script) => {
	const scripts = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
	expect(scripts[script]).toMatch(new RegExp(`^node ${NODE_FLAGS.join(" ")} bin/run-compiled\\.js`));
});

test("the image's CMD gives node the flags before the program", () => {
	const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(path.join(ROOT, "Dockerfile"), "utf8"))?.[1];
	expect(JSON.parse(cmd ?? "[]")).toEqual(["node", ...NODE_FLAGS, "dist/bin/start.js"]);
});

test("the benchmarks' and tests' compiled nodes start with the flags", () => {
	const helper = readFileSync(path.join(ROOT, "test/helpers/node-process.ts"), "utf8");
	expect(helper).toContain('[...NODE_FLAGS, "bin/run-compiled.js"]');
	expect(helper).toContain('require("../../bin/node-flags.js")');
});
