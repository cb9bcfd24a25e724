/**
 * The HTTP load generator's own process (forked by bench/load.ts), so that making requests never
 * competes with the server under test for its event loop. Keep-alive sockets, fixed concurrency
 * (closed loop: N requests, each worker sends its next one when the previous answered) or a
 * fixed offered rate (open loop). Answers one LoadResult per LoadSpec over IPC.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import { percentile } from "./lib";
import type { LoadResult, LoadSpec } from "./load";

function expand(template: string, i: number, ids: number[] | undefined): string {
	let out = template.split("{i}").join(String(i));
	if (ids && ids.length > 0) out = out.split("{id}").join(String(ids[i % ids.length]));
	return out;
}

async function run(spec: LoadSpec): Promise<LoadResult> {
	const base = new URL(spec.url);
	const open = spec.rate !== undefined;
	const agent = new http.Agent({ keepAlive: true, maxSockets: open ? 512 : spec.concurrency });
	const latencies: number[] = [];
	const statuses: Record<string, number> = {};
	const sampleErrors: string[] = [];
	let ok = 0;
	const first = spec.start ?? 0;

	const one = (i: number): Promise<void> =>
		new Promise((resolve) => {
			const body = spec.body === undefined ? undefined : Buffer.from(expand(spec.body, i, spec.ids));
			const headers: Record<string, string | number> = {};
			if (body) {
				headers["content-type"] = "application/json";
				headers["content-length"] = body.length;
			}
			const t0 = performance.now();
			const req = http.request(
				{
					agent,
					host: base.hostname,
					port: base.port,
					method: spec.method,
					path: base.pathname.replace(/\/$/, "") + expand(spec.path, i, spec.ids),
					headers,
				},
				(res) => {
					const chunks: Buffer[] = [];
					res.on("data", (chunk: Buffer) => chunks.push(chunk));
					res.on("end", () => {
						latencies.push(performance.now() - t0);
						const status = res.statusCode ?? 0;
						statuses[status] = (statuses[status] ?? 0) + 1;
						if (status >= 200 && status < 300) ok++;
						else if (sampleErrors.length < 5) sampleErrors.push(`${status} ${Buffer.concat(chunks).toString().slice(0, 200)}`);
						resolve();
					});
				},
			);
			req.on("error", (err) => {
				latencies.push(performance.now() - t0);
				statuses.network = (statuses.network ?? 0) + 1;
				if (sampleErrors.length < 5) sampleErrors.push(`network ${err.message}`);
				resolve();
			});
			if (body) req.write(body);
			req.end();
		});

	const started = performance.now();
	if (!open) {
		let next = 0;
		await Promise.all(
			Array.from({ length: spec.concurrency }, async () => {
				while (next < spec.count) await one(first + next++);
			}),
		);
	} else {
		// open loop: request k is due at started + k / rate, whether or not earlier ones answered
		const interval = 1000 / (spec.rate as number);
		const inFlight = new Set<Promise<void>>();
		let sent = 0;
		await new Promise<void>((resolve) => {
			const tick = () => {
				const due = Math.min(spec.count, Math.floor((performance.now() - started) / interval) + 1);
				while (sent < due) {
					const p = one(first + sent++);
					inFlight.add(p);
					void p.then(() => inFlight.delete(p));
				}
				if (sent >= spec.count) resolve();
				else setTimeout(tick, Math.max(0, Math.min(interval, started + sent * interval - performance.now())));
			};
			tick();
		});
		await Promise.all(inFlight);
	}
	const seconds = (performance.now() - started) / 1000;
	agent.destroy();
	latencies.sort((a, b) => a - b);
	return {
		count: spec.count,
		ok,
		failed: spec.count - ok,
		statuses,
		sampleErrors,
		seconds,
		perSecond: ok / seconds,
		p50: percentile(latencies, 50),
		p95: percentile(latencies, 95),
		p99: percentile(latencies, 99),
		max: latencies[latencies.length - 1] ?? 0,
	};
}

process.on("message", (message: { id: number; spec: LoadSpec }) => {
	run(message.spec).then(
		(result) => process.send?.({ id: message.id, result }),
		(err: Error) => process.send?.({ id: message.id, error: err.stack ?? err.message }),
	);
});
process.on("disconnect", () => process.exit(0));
