/**
 * `npm start` and `npm run repl`: one node with the services named in SERVICES (all three by
 * default). Ctrl-C (SIGINT) or SIGTERM stops it cleanly: in-flight requests finish, databases close.
 * A second signal exits at once.
 */
import { Errors } from "moleculer";
import { loadConfig } from "../moleculer.config";
import { gracefulStop } from "../lib/infra/graceful-stop";
import { Heartbeat } from "../lib/infra/heartbeat";
import { stopAccepting, whenListening } from "../mixins/listen-when-started.mixin";
import { createNode } from "./node";

async function main(): Promise<void> {
	const config = loadConfig();
	const broker = createNode(config);
	const heartbeat =
		config.heartbeatFile === null ? null : new Heartbeat(config.heartbeatFile, (err) => broker.logger.warn(`Heartbeat file not written: ${err.message}`));

	const stop = gracefulStop({
		stopAll: async () => {
			await heartbeat?.stop();
			// new connections are refused (a load balancer sends them elsewhere) while what is in flight finishes
			stopAccepting(broker);
			await broker.stop();
		},
		info: (message) => broker.logger.info(message),
		warn: (message) => broker.logger.warn(message),
		error: (message, err) => broker.logger.error(message, err),
		exit: (code) => process.exit(code),
	});
	process.on("SIGINT", () => void stop("SIGINT"));
	process.on("SIGTERM", () => void stop("SIGTERM"));

	await broker.start();
	heartbeat?.start();
	// printed once the port is open, which is once every service of this node has started
	const address = await whenListening(broker);
	if (address) broker.logger.info(`REST API on http://${config.api.host}:${address.port}/api`);
	if (process.argv.includes("--repl")) {
		await broker.repl();
	}
}

main().catch((err: unknown) => {
	const message = err instanceof Errors.MoleculerError || err instanceof Error ? err.message : String(err);
	console.error(`Failed to start: ${message}`);
	process.exit(1);
});
