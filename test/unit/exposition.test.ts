import { type DashboardQuery, parseExposition, unmatchedSelectors } from "../helpers/monitoring";
import { metricNames, selectors } from "../helpers/promql-metrics";

/** What Moleculer's Prometheus reporter prints (node_modules/moleculer/src/metrics/reporters/prometheus.js). */
const EXPOSITION = `# HELP cg_events_published events published after commit
# TYPE cg_events_published counter
cg_events_published{namespace="cg",nodeID="clients-1",event="client.created"} 2
cg_events_published{namespace="cg",nodeID="clients-1",event="client.updated"} 1

# HELP cg_events_propagation ms from an event's commit to its application by a consumer
# TYPE cg_events_propagation histogram
cg_events_propagation_bucket{namespace="cg",nodeID="goals-1",producer="clients",le="5"} 0
cg_events_propagation_bucket{namespace="cg",nodeID="goals-1",producer="clients",le="+Inf"} 3
moleculer_request_error_total{namespace="cg",nodeID="api-1",action="clients.get",caller="api",errorName="NotFoundError",errorCode="404",errorType="a \\"quoted\\" \\\\ value"} 1
`;

const query = (expr: string): DashboardQuery => ({ panel: "p", refId: "A", expr, metrics: metricNames(expr), selectors: selectors(expr) });

describe("parseExposition and unmatchedSelectors", () => {
	test("every sample line with its labels; HELP, TYPE and blank lines skipped; escapes read", () => {
		const samples = parseExposition(EXPOSITION);
		expect(samples.map((sample) => sample.name)).toEqual([
			"cg_events_published",
			"cg_events_published",
			"cg_events_propagation_bucket",
			"cg_events_propagation_bucket",
			"moleculer_request_error_total",
		]);
		expect(samples[3].labels).toEqual({ namespace: "cg", nodeID: "goals-1", producer: "clients", le: "+Inf" });
		expect(samples[4].labels.errorType).toBe('a "quoted" \\ value');
	});

	test("a selector is matched by a series of its name with its labels; anything else is named with the panel using it", () => {
		const samples = parseExposition(EXPOSITION);
		expect(
			unmatchedSelectors(
				[
					query('sum by (event) (rate(cg_events_published{event="client.updated"}[5m]))'),
					query("histogram_quantile(0.99, sum by (le) (rate(cg_events_propagation_bucket[5m])))"),
					query('rate(moleculer_request_error_total{caller="api", errorCode="404"}[5m])'),
				],
				samples,
			),
		).toEqual([]);
		expect(
			unmatchedSelectors(
				[query("rate(cg_events_propagation_count[5m])"), query('rate(cg_events_published{event="goal.created"}[5m])'), query("cg_events_publishd")],
				samples,
			),
		).toEqual([
			"cg_events_propagation_count is not exported (p A)",
			'no cg_events_published series has event="goal.created" (p A)',
			"cg_events_publishd is not exported (p A)",
		]);
	});
});
