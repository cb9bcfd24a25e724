/**
 * The flags node runs the program with, wherever it starts: `npm start` and `npm run repl`
 * (package.json), the image (the Dockerfile's CMD), and the compiled nodes of the benchmarks and
 * tests (test/helpers/node-process.ts). test/unit/node-flags.test.ts checks that they agree.
 *
 * --max-semi-space-size=4: V8's young generation in halves of 4 MiB instead of 16. Measured on
 * the embedded node (`npm start`) after 6,000 writes and 60,000 cached reads, two runs each:
 * default 155 MiB RSS; 8 MiB 139–141; 4 MiB 131–133; 2 MiB 196 (objects promoted early fill the
 * old generation), with the same throughput and CPU within the runs' noise (±4 %). The target is
 * ≤ 150 MiB per node after load, which the default missed by a few MiB in one run in two.
 */
module.exports = ["--max-semi-space-size=4"];
