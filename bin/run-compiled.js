/**
 * `npm start` and `npm run repl`: the program as compiled JavaScript, not through tsx.
 *
 * Measured on the development machine (one embedded node, idle after start): through tsx 151–157
 * MiB RSS and 4.4–4.6 s to its first answer under load; compiled 115–117 MiB and 1.6–2.7 s. So
 * the sources are bundled with esbuild (tsx's own compiler, no type check, as tsx does) into one
 * file, `dist/start-<hash of the sources>.js`, built only when no bundle of these sources exists
 * (~0.4 s), and run in this process: no second process between the terminal and the app, so
 * Ctrl-C and SIGTERM reach it directly. Packages stay in node_modules (not bundled).
 * `npm run dev` runs the TypeScript sources with tsx; the image runs tsc's build (`npm run build`).
 */
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");
/** what the program is made of: a change to any of these makes a new bundle */
const SOURCES = ["moleculer.config.ts", "package.json", "tsconfig.json", "bin", "lib", "mixins", "services"];
/** other bundles older than this are removed (a node still running one has it in memory already) */
const PRUNE_AFTER_MS = 60_000;

function sourceFiles(entry) {
	const full = path.join(ROOT, entry);
	if (!fs.statSync(full).isDirectory()) return [entry];
	return fs.readdirSync(full).flatMap((child) => sourceFiles(path.join(entry, child)));
}

function sourceHash() {
	const hash = createHash("sha256");
	for (const file of SOURCES.flatMap(sourceFiles).sort()) {
		hash.update(`${file}\0`);
		hash.update(fs.readFileSync(path.join(ROOT, file)));
	}
	return hash.digest("hex").slice(0, 16);
}

function bundle(target) {
	const started = Date.now();
	const temporary = `${target}.${process.pid}.tmp`;
	require("esbuild").buildSync({
		entryPoints: [path.join(ROOT, "bin", "start.ts")],
		outfile: temporary,
		bundle: true,
		packages: "external",
		platform: "node",
		format: "cjs",
		target: "node20",
		logLevel: "error",
		// the gateway's static files are the sources' web/, not beside the bundle (moleculer.config.ts)
		define: { BUNDLED_WEB_ROOT: JSON.stringify(path.join(ROOT, "web")) },
	});
	// a rename is atomic: replicas started together from one checkout never run a half-written file
	fs.renameSync(temporary, target);
	console.log(`Compiled the sources into ${path.relative(ROOT, target)} in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
}

function prune(keep) {
	for (const name of fs.readdirSync(DIST)) {
		const file = path.join(DIST, name);
		if (file === keep || !/^start-[0-9a-f]+\.js(\.\d+\.tmp)?$/.test(name)) continue;
		try {
			if (Date.now() - fs.statSync(file).mtimeMs > PRUNE_AFTER_MS) fs.rmSync(file, { force: true });
		} catch {
			// another node pruned it first
		}
	}
}

const target = path.join(DIST, `start-${sourceHash()}.js`);
if (!fs.existsSync(target)) {
	fs.mkdirSync(DIST, { recursive: true });
	try {
		bundle(target);
	} catch (err) {
		console.error(`Could not compile the sources (${err.message.split("\n")[0]}): fix the error above, or run them through tsx with \`npm run dev\`.`);
		process.exit(1);
	}
}
prune(target);
require(target);
