/**
 * Probe RabbitMQ, Redis and PostgreSQL once per run. Suites that need an unreachable server
 * are skipped loudly, except with CI=true, where the whole run fails and says how to start it.
 */
import { INFRA_PORTS, INFRA_START_HINTS, type Infra } from "./test/helpers/infra";
import { portOpen } from "./test/helpers/node-process";

export default async function globalSetup(): Promise<void> {
	const names = Object.keys(INFRA_PORTS) as Infra[];
	const up = await Promise.all(names.map((name) => portOpen(INFRA_PORTS[name], 1000)));
	const missing = names.filter((_, i) => !up[i]);
	process.env.INFRA_MISSING = missing.join(",");
	if (missing.length === 0) return;
	const hints = missing.map((name) => `  ${name} (port ${INFRA_PORTS[name]}): ${INFRA_START_HINTS[name]}`).join("\n");
	if (process.env.CI === "true") {
		throw new Error(`CI=true and these servers are unreachable:\n${hints}`);
	}
	console.warn(`\n*** Unreachable, their suites will be SKIPPED:\n${hints}\n`);
}
