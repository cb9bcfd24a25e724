/**
 * The container's HEALTHCHECK, the same for every node of the image (`node dist/bin/healthcheck.js`):
 * a node that runs the api asks its own `GET /api/health`; any other node has no HTTP port and
 * is alive while its heartbeat file (HEARTBEAT_FILE, lib/infra/heartbeat.ts) is fresh.
 * Exit 0 healthy, 1 not (Docker's convention), with one line saying why.
 */
import { type AppConfig, loadConfig } from "../moleculer.config";
import { HEARTBEAT_MAX_AGE_MS, heartbeatAge } from "../lib/infra/heartbeat";

const HTTP_TIMEOUT_MS = 3_000;

/** The address to probe: a wildcard bind address is reached on loopback. */
function healthUrl(config: AppConfig): string {
	const host = config.api.host;
	const reachable = host === "0.0.0.0" || host === "" ? "127.0.0.1" : host === "::" ? "::1" : host;
	const bracketed = reachable.includes(":") ? `[${reachable}]` : reachable;
	return `http://${bracketed}:${config.api.port}/api/health`;
}

async function check(config: AppConfig): Promise<string> {
	if (config.services.includes("api")) {
		const url = healthUrl(config);
		const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
		if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
		return `GET ${url} answered 200`;
	}
	if (config.heartbeatFile === null) throw new Error("no api on this node and HEARTBEAT_FILE is not set");
	const age = heartbeatAge(config.heartbeatFile);
	if (age === null) throw new Error(`no heartbeat file at ${config.heartbeatFile}`);
	if (age > HEARTBEAT_MAX_AGE_MS) throw new Error(`heartbeat is ${Math.round(age / 1000)} s old (limit ${HEARTBEAT_MAX_AGE_MS / 1000} s)`);
	return `heartbeat ${Math.round(age / 1000)} s old`;
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause */
function reason(err: unknown): string {
	if (!(err instanceof Error)) return String(err);
	const cause = err.cause instanceof Error ? `: ${(err.cause as NodeJS.ErrnoException).code ?? err.cause.message}` : "";
	return `${err.message}${cause}`;
}

// loadConfig inside the chain: a configuration error is a plain "unhealthy" line, not a crash
Promise.resolve()
	.then(() => check(loadConfig()))
	.then(
		(ok) => {
			console.log(`healthy: ${ok}`);
			process.exit(0);
		},
		(err: unknown) => {
			console.log(`unhealthy: ${reason(err)}`);
			process.exit(1);
		},
	);
