/**
 * Probe RabbitMQ, Redis and PostgreSQL once per run. Suites that need an unreachable server
 * are skipped loudly, except with CI=true, where the whole run fails and says how to start it.
 */
import net from "node:net";
import { INFRA_PORTS, INFRA_START_HINTS, type Infra } from "./test/helpers/infra";

function reachable(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect({ host: "127.0.0.1", port, timeout: 1000 });
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
		socket.once("timeout", () => {
			socket.destroy();
			resolve(false);
		});
	});
}

export default async function globalSetup(): Promise<void> {
	const names = Object.keys(INFRA_PORTS) as Infra[];
	const up = await Promise.all(names.map((name) => reachable(INFRA_PORTS[name])));
	const missing = names.filter((_, i) => !up[i]);
	process.env.INFRA_MISSING = missing.join(",");
	if (missing.length === 0) return;
	const hints = missing.map((name) => `  ${name} (port ${INFRA_PORTS[name]}): ${INFRA_START_HINTS[name]}`).join("\n");
	if (process.env.CI === "true") {
		throw new Error(`CI=true and these servers are unreachable:\n${hints}`);
	}
	console.warn(`\n*** Unreachable, their suites will be SKIPPED:\n${hints}\n`);
}
