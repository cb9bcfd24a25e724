/**
 * The HTTP load generator's own process (forked by bench/load.ts), so that making requests never
 * competes with the server under test for its event loop. Keep-alive sockets, fixed concurrency
 * (closed loop: N requests, each worker sends its next one when the previous answered) or a
 * fixed offered rate (open loop). Answers one LoadResult per LoadSpec over IPC.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import { percentile } from "./lib";
import type { LoadResult, LoadSpec, PropagationResult, PropagationSpec } from "./load";

function expand(template: string, i: number, ids: number[] | undefined): string {
	let out = template.split("{i}").join(String(i));
	if (ids && ids.length > 0) out = out.split("{id}").join(String(ids[i % ids.length]));
	return out;
}

/** Called when request `i` has been answered, with its status (0: no answer). */
type OnAnswer = (i: number, status: number) => void;

async function run(spec: LoadSpec, onAnswer?: OnAnswer): Promise<LoadResult> {
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
						onAnswer?.(i, status);
						resolve();
					});
				},
			);
			req.on("error", (err) => {
				latencies.push(performance.now() - t0);
				statuses.network = (statuses.network ?? 0) + 1;
				if (sampleErrors.length < 5) sampleErrors.push(`network ${err.message}`);
				onAnswer?.(i, 0);
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

/** GET a JSON document; null when it does not answer 200. */
function getJson(agent: http.Agent, url: URL): Promise<Record<string, unknown> | null> {
	return new Promise((resolve) => {
		const req = http.get(url, { agent }, (res) => {
			const chunks: Buffer[] = [];
			res.on("data", (chunk: Buffer) => chunks.push(chunk));
			res.on("end", () => {
				if (res.statusCode !== 200) return resolve(null);
				try {
					resolve(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
				} catch {
					resolve(null);
				}
			});
		});
		req.on("error", () => resolve(null));
	});
}

/**
 * Renames at an offered rate (`PUT /clients/{id}` with the name `<namePrefix> {i}`); for every
 * `every`-th one answered 2xx, `GET /goals/<a goal of that client>` is polled from that answer
 * until the goal shows the new name (or a later one of the same run), and the time is kept.
 */
async function propagation(spec: PropagationSpec): Promise<PropagationResult> {
	const first = spec.start ?? 0;
	const goalOf = new Map(spec.goals);
	const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
	const latencies: number[] = [];
	let lost = 0;
	const polls: Array<Promise<void>> = [];
	const nameOf = new RegExp(`^${spec.namePrefix} (\\d+)$`);
	const poll = async (i: number, goalId: number) => {
		const answered = performance.now();
		const url = new URL(`${spec.url.replace(/\/$/, "")}/goals/${goalId}`);
		while (performance.now() - answered < spec.timeoutMs) {
			const goal = await getJson(agent, url);
			const shown = nameOf.exec(String(goal?.clientName ?? ""));
			if (shown && Number(shown[1]) >= i) {
				latencies.push(performance.now() - answered);
				return;
			}
			await new Promise((resolve) => setTimeout(resolve, spec.pollMs));
		}
		lost++;
	};
	const renames = await run(
		{
			url: spec.url,
			method: "PUT",
			path: "/clients/{id}",
			body: `{"name":"${spec.namePrefix} {i}"}`,
			ids: spec.ids,
			start: first,
			concurrency: 1,
			count: spec.count,
			rate: spec.rate,
		},
		(i, status) => {
			const goalId = goalOf.get(spec.ids[i % spec.ids.length]);
			if ((i - first) % spec.every === 0 && status >= 200 && status < 300 && goalId !== undefined) polls.push(poll(i, goalId));
		},
	);
	await Promise.all(polls);
	agent.destroy();
	return { renames, latencies: latencies.sort((a, b) => a - b), lost };
}

process.on("message", (message: { id: number; spec?: LoadSpec; propagation?: PropagationSpec }) => {
	const work: Promise<LoadResult | PropagationResult> = message.propagation
		? propagation(message.propagation)
		: message.spec
			? run(message.spec)
			: Promise.reject(new Error("a message with neither spec nor propagation"));
	work.then(
		(result) => process.send?.({ id: message.id, result }),
		(err: Error) => process.send?.({ id: message.id, error: err.stack ?? err.message }),
	);
});
process.on("disconnect", () => process.exit(0));
