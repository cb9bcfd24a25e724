/**
 * `npm run chaos [changes] [fault name filter]`: the fault matrix with a larger load (1000
 * changes per fault by default), on private RabbitMQ, Redis and PostgreSQL servers. Prints a
 * progress line while it runs and the table at the end; exits 1 if anything was lost.
 */
import { FAULTS, FaultMatrix, formatResults, type ScenarioResult } from "../test/helpers/fault-matrix";
import { progress } from "./lib";

const changes = Number(process.argv[2] ?? 1000);
const filter = process.argv[3] ?? "";

async function main(): Promise<void> {
	const matrix = new FaultMatrix();
	const results: ScenarioResult[] = [];
	progress("starting private RabbitMQ, Redis, PostgreSQL and the cluster (api, clients, goals ×2)");
	try {
		await matrix.setUp();
		for (const name of Object.keys(FAULTS).filter((fault) => fault.includes(filter))) {
			progress(`fault: ${name}`);
			const result = await matrix.run(name, changes, FAULTS[name], progress);
			results.push(result);
			for (const line of result.gatewayErrors) progress(`gateway: ${line}`);
		}
	} catch (err) {
		console.error(`Chaos run failed: ${(err as Error).message}`);
		process.exitCode = 1;
	} finally {
		console.log(`\nFault matrix (${changes} changes per fault)\n${formatResults(results)}`);
		await matrix.tearDown();
	}
	if (results.some((result) => result.lost > 0 || result.twice > 0 || result.regressions > 0)) process.exitCode = 1;
}

void main();
