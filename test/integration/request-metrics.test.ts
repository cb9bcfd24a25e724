/**
 * The project's request metrics (lib/infra/request-metrics.ts) against Moleculer's own Metrics
 * middleware: two real brokers, the same services and the same calls — nested (a caller), failed
 * (three kinds of error), concurrent, still under way — and then the same series with the same
 * labels and counts, read as the Prometheus reporter and `$node.metrics` read them (a snapshot).
 * Durations differ between two runs, so the time histogram is compared by its count and labels.
 */
import { type BrokerOptions, type Context, Errors, ServiceBroker } from "moleculer";
import { internalMiddlewares } from "../../lib/infra/request-metrics";
import { waitFor } from "../helpers/wait";

type Exercised = ServiceBroker & { held(): boolean; release(): void };

interface Item {
	labels: Record<string, unknown>;
	value?: number;
	count?: number;
}

function brokerWith(ours: boolean): ServiceBroker {
	const options: BrokerOptions = ours ? { internalMiddlewares: false, middlewares: [...internalMiddlewares] } : {};
	const broker = new ServiceBroker({ logger: false, metrics: { enabled: true }, ...options });
	let release: (() => void) | undefined;
	broker.createService({
		name: "inner",
		actions: {
			ok: (ctx: Context<{ n: number }>) => ctx.params.n * 2,
			notFound: () => Promise.reject(new Errors.MoleculerClientError("no such thing", 404, "NOT_FOUND")),
			broken: () => Promise.reject(new Error("broken")),
			held: () => new Promise<void>((resolve) => (release = resolve)),
		},
	});
	broker.createService({
		name: "outer",
		actions: {
			twice: async (ctx: Context<{ n: number }>) =>
				(await ctx.call<number, { n: number }>("inner.ok", ctx.params)) + (await ctx.call<number, { n: number }>("inner.ok", ctx.params)),
		},
	});
	Object.assign(broker, { held: () => release !== undefined, release: () => release?.() });
	return broker;
}

/** Every request series, by metric, keyed by its labels; values as a reader sees them now. */
function requestSeries(broker: ServiceBroker): Record<string, Record<string, number | undefined>> {
	const read: Record<string, Record<string, number | undefined>> = {};
	for (const metric of broker.metrics.list({ includes: "moleculer.request.**" }) as unknown as Array<{ name: string; values: Item[] }>) {
		read[metric.name] = Object.fromEntries(metric.values.map((item) => [JSON.stringify(item.labels), item.value ?? item.count]));
	}
	return read;
}

async function exercise(broker: ServiceBroker): Promise<void> {
	await broker.start();
	await Promise.all(Array.from({ length: 5 }, (_, n) => broker.call("outer.twice", { n })));
	await broker.call("inner.ok", { n: 1 });
	await expect(broker.call("inner.notFound")).rejects.toThrow("no such thing");
	await expect(broker.call("inner.notFound")).rejects.toThrow("no such thing");
	await expect(broker.call("inner.broken")).rejects.toThrow("broken");
	void broker.call("inner.held");
	// the held call has begun (its handler runs) before anything is read
	await waitFor(() => (broker as Exercised).held(), { what: "the held call to begin" });
}

describe("request metrics: the same series as Moleculer's own middleware", () => {
	const moleculers = brokerWith(false);
	const ours = brokerWith(true);

	beforeAll(async () => {
		await exercise(moleculers);
		await exercise(ours);
	});

	afterAll(async () => {
		for (const broker of [moleculers, ours]) {
			(broker as Exercised).release();
			await broker.stop();
		}
	});

	test("totals, errors, levels and calls under way: equal, series for series", () => {
		const theirs = requestSeries(moleculers);
		const mine = requestSeries(ours);
		for (const name of ["moleculer.request.total", "moleculer.request.error.total", "moleculer.request.levels", "moleculer.request.active"]) {
			expect({ name, series: mine[name] }).toEqual({ name, series: theirs[name] });
		}
		// the figures themselves, not only their agreement
		expect(mine["moleculer.request.total"][JSON.stringify({ service: "inner", action: "inner.ok", type: "local", caller: "outer" })]).toBe(10);
		expect(mine["moleculer.request.levels"][JSON.stringify({ level: 2 })]).toBe(10);
		expect(
			mine["moleculer.request.error.total"][
				JSON.stringify({
					service: "inner",
					action: "inner.notFound",
					type: "local",
					caller: null,
					errorName: "MoleculerClientError",
					errorCode: 404,
					errorType: "NOT_FOUND",
				})
			],
		).toBe(2);
		expect(mine["moleculer.request.active"][JSON.stringify({ service: "inner", action: "inner.held", type: "local", caller: null })]).toBe(1);
	});

	test("request times: one observation per ended call, in the same series", () => {
		const theirs = requestSeries(moleculers)["moleculer.request.time"];
		const mine = requestSeries(ours)["moleculer.request.time"];
		expect(mine).toEqual(theirs);
		expect(mine[JSON.stringify({ service: "outer", action: "outer.twice", type: "local", caller: null })]).toBe(5);
	});

	test("a series read again after more calls shows them (nothing waits for the next second)", async () => {
		const key = JSON.stringify({ service: "inner", action: "inner.ok", type: "local", caller: null });
		const before = requestSeries(ours)["moleculer.request.total"][key] ?? 0;
		await ours.call("inner.ok", { n: 2 });
		await ours.call("inner.ok", { n: 3 });
		expect(requestSeries(ours)["moleculer.request.total"][key]).toBe(before + 2);
		expect(requestSeries(ours)["moleculer.request.time"][key]).toBe(before + 2);
	});
});
