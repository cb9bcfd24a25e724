/**
 * Moleculer's request metrics — `moleculer.request.total`, `.active`, `.error.total`, `.time` and
 * `.levels`, the same names, labels and values its own Metrics middleware keeps — at a fraction of
 * the cost per call. Every other hook of that middleware (events, transit, transporter) is
 * Moleculer's own, taken as it is.
 *
 * Why: Moleculer's middleware updates five series on every action call, and each update builds a
 * label object and hashes it into a string (a counter twice), then stamps the time and tells the
 * reporters. A cached `GET /api/clients/:id` makes two calls (`api.rest`, `clients.get`); measured
 * with a bare broker, the metrics were 8 of its 10 µs of CPU, and in the embedded node 20 of its
 * ~90 µs per request (docs/benchmarks.md, "Moleculer's metrics, cheaper"). Here a call adds to the
 * plain numbers of its series — found once per action, call type and caller — and the series are
 * written into Moleculer's registry in one pass: before anything reads them (each metric's
 * `snapshot`, which the Prometheus reporter and `$node.metrics` both go through), every second, and
 * when a series holds many durations. A reader never sees a stale value; rates (ticked every 5 s)
 * see each second's.
 */
import * as moleculer from "moleculer";
import { BATCHED_HISTOGRAM, type BatchedHistogram } from "./batched-histogram";
import { type ActionHandler, type ActionSchema, type Context, METRIC, type Middleware, type ServiceBroker } from "moleculer";

/** How often the series are written into the registry when nobody reads them. */
const WRITE_EVERY_MS = 1000;
/** A series writes itself out when this many durations wait (bounds what waits between writes). */
const MAX_WAITING_DURATIONS = 1000;

type CallType = "local" | "remote";

interface SeriesLabels {
	service: string | null;
	action: string;
	caller: string | null;
	type: CallType;
}

interface ErrorLabels extends SeriesLabels {
	errorName: string | null | undefined;
	errorCode: number | string | null | undefined;
	errorType: string | null | undefined;
}

/** What calls of one action, of one type, from one caller did since the series was last written. */
class RequestSeries {
	/** calls begun since the last write */
	begun = 0;
	/** calls under way now */
	active = 0;
	/** `active` as the registry last saw it (-1: never written) */
	private activeWritten = -1;
	/** durations (ms) of the calls that ended since the last write */
	readonly durations: number[] = [];
	/** errors by name, code and type since the last write */
	private readonly errors = new Map<string, { labels: ErrorLabels; count: number }>();

	constructor(readonly labels: SeriesLabels) {}

	/** A call begun at `start` (performance.now()) ended; true when the series should be written out. */
	ended(start: number): boolean {
		this.active -= 1;
		return this.durations.push(performance.now() - start) >= MAX_WAITING_DURATIONS;
	}

	failed(error: unknown): void {
		const err = error as { name?: string; code?: number | string; type?: string } | null;
		// as Moleculer labels it: a field the error lacks is undefined, and so left out of the series' labels
		const labels: ErrorLabels = {
			...this.labels,
			errorName: err ? err.name : null,
			errorCode: err ? err.code : null,
			errorType: err ? err.type : null,
		};
		const key = `${labels.errorName}|${labels.errorCode}|${labels.errorType}`;
		const counted = this.errors.get(key);
		if (counted) counted.count += 1;
		else this.errors.set(key, { labels, count: 1 });
	}

	/** Add what waits to the registry's series (Moleculer's own update functions, once per figure). */
	writeTo(registry: ServiceBroker["metrics"], time: BatchedHistogram): void {
		if (this.begun > 0) {
			registry.increment(METRIC.MOLECULER_REQUEST_TOTAL, this.labels, this.begun);
			this.begun = 0;
		}
		if (this.active !== this.activeWritten) {
			registry.set(METRIC.MOLECULER_REQUEST_ACTIVE, this.active, this.labels);
			this.activeWritten = this.active;
		}
		time.observeMany(this.durations, this.labels as unknown as Record<string, unknown>);
		this.durations.length = 0;
		for (const { labels, count } of this.errors.values()) registry.increment(METRIC.MOLECULER_REQUEST_ERROR_TOTAL, labels, count);
		this.errors.clear();
	}
}

/** The five series' names: a read of any of them writes every series first. */
const REQUEST_METRICS = [
	METRIC.MOLECULER_REQUEST_TOTAL,
	METRIC.MOLECULER_REQUEST_ACTIVE,
	METRIC.MOLECULER_REQUEST_ERROR_TOTAL,
	METRIC.MOLECULER_REQUEST_TIME,
	METRIC.MOLECULER_REQUEST_LEVELS,
];

/** Moleculer exports its built-in middlewares (`Middlewares` in its index.js); its typings omit them. */
const builtInMetrics = (moleculer as unknown as { Middlewares: { Metrics: (broker: ServiceBroker) => Middleware } }).Middlewares.Metrics;

/**
 * Use in place of Moleculer's internal "Metrics" middleware (moleculer.config.ts lists the internal
 * middlewares itself, this one where "Metrics" stood). Like Moleculer's, a function of the broker:
 * its `middlewares` option takes one (middleware.js `add`), though its typings say only objects.
 */
export function requestMetrics(broker: ServiceBroker): Middleware {
	const builtIn = builtInMetrics(broker);
	const registry = broker.metrics;
	const series: RequestSeries[] = [];
	/** calls by context level since the last write */
	const levels: number[] = [];
	let timer: NodeJS.Timeout | undefined;
	/** `moleculer.request.time`, registered again as a histogram that takes a batch (created, below) */
	let time: BatchedHistogram | undefined;

	const writeAll = (): void => {
		if (!time) return;
		for (const one of series) one.writeTo(registry, time);
		levels.forEach((count, level) => {
			if (count > 0) registry.increment(METRIC.MOLECULER_REQUEST_LEVELS, { level }, count);
		});
		levels.fill(0);
	};

	function measured(type: CallType, next: ActionHandler, action: ActionSchema): ActionHandler {
		const service = (action.service as { fullName?: string } | undefined)?.fullName ?? null;
		const name = action.name as string;
		const byCaller = new Map<string | null, RequestSeries>();
		const seriesOf = (caller: string | null): RequestSeries => {
			let one = byCaller.get(caller);
			if (!one) {
				one = new RequestSeries({ service, action: name, caller, type });
				byCaller.set(caller, one);
				series.push(one);
			}
			return one;
		};
		return function metered(ctx: Context) {
			const one = seriesOf(ctx.caller);
			one.begun += 1;
			one.active += 1;
			levels[ctx.level] = (levels[ctx.level] ?? 0) + 1;
			const start = performance.now();
			// like Moleculer's own middlewares, the next handler is called without a `this`
			return (next as (ctx: Context) => Promise<unknown>)(ctx).then(
				(result) => {
					if (one.ended(start)) writeAll();
					return result;
				},
				(error: unknown) => {
					one.failed(error);
					if (one.ended(start)) writeAll();
					throw error;
				},
			);
		};
	}

	return {
		...builtIn,
		name: "Metrics",
		created(this: ServiceBroker, created: ServiceBroker) {
			builtIn.created?.call(this, created);
			if (!broker.isMetricsEnabled()) return;
			// Moleculer's own options for it (middlewares/metrics.js, 0.15), on a batched histogram
			time = registry.register({
				name: METRIC.MOLECULER_REQUEST_TIME,
				type: BATCHED_HISTOGRAM,
				labelNames: ["service", "action", "type", "caller"],
				quantiles: true,
				buckets: true,
				unit: METRIC.UNIT_MILLISECONDS,
				description: "Request times in milliseconds",
				rate: true,
			} as never) as unknown as BatchedHistogram;
			// every reader (the Prometheus reporter, `$node.metrics`) goes through a metric's snapshot
			for (const name of REQUEST_METRICS) {
				const metric = registry.getMetric(name) as { snapshot: () => unknown[] } | null;
				if (!metric) continue;
				const snapshot = metric.snapshot.bind(metric);
				metric.snapshot = () => {
					writeAll();
					return snapshot();
				};
			}
		},
		async started() {
			if (broker.isMetricsEnabled()) timer = setInterval(writeAll, WRITE_EVERY_MS).unref();
		},
		async stopped() {
			clearInterval(timer);
			if (broker.isMetricsEnabled()) writeAll();
		},
		localAction(next, action) {
			return broker.isMetricsEnabled() ? measured("local", next, action) : next;
		},
		remoteAction(next, action) {
			return broker.isMetricsEnabled() ? measured("remote", next, action) : next;
		},
	};
}

/**
 * Moleculer's internal middlewares (service-broker.js INTERNAL_MIDDLEWARES, 0.15) in its order,
 * "Metrics" replaced by `requestMetrics`: same series, same place in the chain. For a broker's
 * `middlewares` with `internalMiddlewares: false` (moleculer.config.ts).
 */
export const internalMiddlewares: ReadonlyArray<string | Middleware> = [
	"ActionHook",
	"Validator",
	"Bulkhead",
	"Cacher",
	"ContextTracker",
	"CircuitBreaker",
	"Timeout",
	"Retry",
	"Fallback",
	"ErrorHandler",
	"Tracing",
	requestMetrics as unknown as Middleware,
	"Debounce",
	"Throttle",
];
