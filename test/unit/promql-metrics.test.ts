import { matches, metricFamily, metricNames, selectors } from "../helpers/promql-metrics";

const series = (expr: string) => metricNames(expr).map((ref) => ref.series);

describe("metricNames: the metric names a PromQL expression reads", () => {
	test.each<[string, string, string[]]>([
		["a bare name", "cg_events_published", ["cg_events_published"]],
		["label matchers: names, operators and strings are not metrics", 'cg_consumer_lag{consumer="goals", producer!~"cl.*"}', ["cg_consumer_lag"]],
		["functions and aggregations are not metrics", "sum(rate(cg_events_applied[5m]))", ["cg_events_applied"]],
		[
			"a by clause before the expression: its labels are not metrics",
			"sum by (action, errorCode) (rate(moleculer_request_error_total[1m]))",
			["moleculer_request_error_total"],
		],
		["a by clause after the expression", "sum(rate(cg_events_published[1m])) by (event)", ["cg_events_published"]],
		[
			"without, on, ignoring, group_left lists",
			"a_total / on (queue) group_left (consumer) b_total + ignoring (x) c + sum without (y) (d)",
			["a_total", "b_total", "c", "d"],
		],
		[
			"a histogram quantile: le is a label, 0.99 a number",
			"histogram_quantile(0.99, sum by (le, producer) (rate(cg_events_propagation_bucket[$__rate_interval])))",
			["cg_events_propagation_bucket"],
		],
		// biome-ignore lint/suspicious/noTemplateCurlyInString: ${interval} is Grafana's variable syntax in a PromQL string
		["Grafana variables in ranges and matchers", 'rate(x_total{nodeID=~"$node"}[${interval}]) or rate(y_total[[[range]]])', ["x_total", "y_total"]],
		["durations, offsets, subqueries and @", "max_over_time(g[1h30m:1m] offset 5m) > bool 0.5e2 and h @ start()", ["g", "h"]],
		["keywords and special numbers are not metrics", "a unless b or c == Inf and d != NaN", ["a", "b", "c", "d"]],
		["strings and comments, with quotes inside", 'label_replace(m{a=\'it\\\'s "x"\'}, "dst", "$1", "src", `(.*)`) # not_a_metric', ["m"]],
		["a selector by __name__", '{__name__="cg_queue_messages", queue="q"}', ["cg_queue_messages"]],
		["each name once, in order of first use", "b + a + b", ["b", "a"]],
		["recording-rule names with colons", "job:cg_events_applied:rate5m", ["job:cg_events_applied:rate5m"]],
	])("%s", (_, expr, expected) => {
		expect(series(expr)).toEqual(expected);
	});

	test("_bucket, _sum and _count series map to their histogram; other names to themselves", () => {
		expect(metricNames("rate(h_bucket[1m]) + h_sum / h_count + moleculer_request_total")).toEqual([
			{ series: "h_bucket", family: "h" },
			{ series: "h_sum", family: "h" },
			{ series: "h_count", family: "h" },
			{ series: "moleculer_request_total", family: "moleculer_request_total" },
		]);
		expect(metricFamily("cg_consumer_lag")).toBe("cg_consumer_lag");
	});

	test("an expression it cannot read is an error, not an empty list", () => {
		expect(() => metricNames("sum(rate(x[5m])")).toThrow(/unbalanced/);
		expect(() => metricNames("x ; y")).toThrow(/cannot read PromQL/);
	});
});

describe("selectors: each selector with its label matchers", () => {
	test("matchers of every kind, strings unescaped, a __name__ selector's other matchers kept", () => {
		expect(
			selectors('sum by (action) (rate(m{caller="api", type!="local", action=~"clients\\\\..*", e!~\'x\\"y\'}[1m])) / {__name__="n", q="1"} + bare'),
		).toEqual([
			{
				series: "m",
				family: "m",
				matchers: [
					{ label: "caller", op: "=", value: "api" },
					{ label: "type", op: "!=", value: "local" },
					{ label: "action", op: "=~", value: "clients\\..*" },
					{ label: "e", op: "!~", value: 'x"y' },
				],
			},
			{ series: "n", family: "n", matchers: [{ label: "q", op: "=", value: "1" }] },
			{ series: "bare", family: "bare", matchers: [] },
		]);
	});

	test.each<[string, Record<string, string>, boolean]>([
		['m{caller="api"}', { caller: "api", type: "remote" }, true],
		['m{caller="api"}', { caller: "goals" }, false],
		['m{type!="local"}', { type: "remote" }, true],
		['m{missing=""}', { caller: "api" }, true], // an absent label is the empty string, as in PromQL
		['m{action=~"clients\\\\..*"}', { action: "clients.update" }, true],
		['m{action=~"clients"}', { action: "clients.update" }, false], // anchored, as in PromQL
		['m{action!~"goals.*"}', { action: "clients.get" }, true],
	])("%s against %j: %s", (expr, labels, expected) => {
		expect(matches(labels, selectors(expr)[0].matchers)).toBe(expected);
	});
});
