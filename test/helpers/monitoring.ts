/**
 * The monitoring files of the compose deployment (deploy/, docker-compose.yml) as data, and the
 * series names a node's Prometheus endpoint exports: what test/cluster/dashboard-metrics.test.ts
 * holds against each other.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { type MetricRef, matches, metricNames, type Selector, selectors } from "./promql-metrics";

export const ROOT = path.resolve(__dirname, "../..");
export const DASHBOARDS_DIR = "deploy/grafana/dashboards";
export const PROVISIONING_DIR = "deploy/grafana/provisioning";
export const PROMETHEUS_CONFIG = "deploy/prometheus/prometheus.yml";
export const ALERT_RULES = "deploy/prometheus/alerts.yml";
export const ALERT_TESTS = "deploy/prometheus/alerts.test.yml";

/** deploy/prometheus/alerts.yml as Prometheus reads it. */
export interface AlertRulesFile {
	groups: Array<{
		name: string;
		rules: Array<{ alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }>;
	}>;
}

export interface DataSourceRef {
	type?: string;
	uid?: string;
}

export interface Panel {
	id: number;
	title: string;
	type: string;
	datasource?: DataSourceRef;
	targets?: Array<{ refId: string; expr?: string; datasource?: DataSourceRef }>;
	/** a row's panels, when it is collapsed */
	panels?: Panel[];
}

export interface Dashboard {
	uid: string;
	title: string;
	schemaVersion: number;
	panels: Panel[];
	templating?: { list: Array<{ name: string; type: string; query?: unknown; datasource?: DataSourceRef }> };
}

/** One PromQL query of the dashboard, with the metric names it reads. */
export interface DashboardQuery {
	panel: string;
	refId: string;
	expr: string;
	/** each metric name once */
	metrics: MetricRef[];
	/** each selector, with its label matchers */
	selectors: Selector[];
}

/** One sample line of a Prometheus text exposition: its series name and labels. */
export interface Sample {
	name: string;
	labels: Record<string, string>;
}

export function readText(file: string): string {
	return readFileSync(path.join(ROOT, file), "utf8");
}

export function readYaml<T>(file: string): T {
	// merge: the compose file shares settings through YAML merge keys (<<: *node)
	return parse(readText(file), { merge: true }) as T;
}

/** Every dashboard JSON under deploy/grafana/dashboards, by file name. */
export function dashboards(): Map<string, Dashboard> {
	const files = readdirSync(path.join(ROOT, DASHBOARDS_DIR)).filter((name) => name.endsWith(".json"));
	return new Map(files.map((name) => [name, JSON.parse(readText(path.join(DASHBOARDS_DIR, name))) as Dashboard]));
}

/** Every panel, those inside collapsed rows included. */
export function allPanels(dashboard: Dashboard): Panel[] {
	return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** Every PromQL query of a dashboard's panels, each with the metric names it reads. */
export function dashboardQueries(dashboard: Dashboard): DashboardQuery[] {
	return allPanels(dashboard).flatMap((panel) =>
		(panel.targets ?? []).map((target) => ({
			panel: panel.title,
			refId: target.refId,
			expr: target.expr ?? "",
			metrics: metricNames(target.expr ?? ""),
			selectors: selectors(target.expr ?? ""),
		})),
	);
}

/** Every alerting rule's expression, in the shape of a dashboard query (the rule's name as its panel), with the metric names it reads. */
export function alertQueries(): DashboardQuery[] {
	return readYaml<AlertRulesFile>(ALERT_RULES).groups.flatMap((group) =>
		group.rules.map((rule) => ({ panel: rule.alert, refId: "expr", expr: rule.expr, metrics: metricNames(rule.expr), selectors: selectors(rule.expr) })),
	);
}

/** The samples of a Prometheus text exposition (`name{label="value",…} value`), comments and HELP/TYPE lines aside. */
export function parseExposition(exposition: string): Sample[] {
	const samples: Sample[] = [];
	for (const line of exposition.split("\n")) {
		const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+/.exec(line.trim());
		if (!match) continue; // blank, # HELP, # TYPE
		const labels: Record<string, string> = {};
		for (const [, label, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
			labels[label] = value.replace(/\\(.)/g, (_, char: string) => (char === "n" ? "\n" : char));
		}
		samples.push({ name: match[1], labels });
	}
	return samples;
}

/**
 * The selectors of a dashboard's queries that no exported sample satisfies: a series no node
 * exports, or one whose label matchers (`caller="api"`) none of its samples meet, each with the
 * panel and query that use it.
 */
export function unmatchedSelectors(queries: DashboardQuery[], samples: Sample[]): string[] {
	const problems = new Map<string, string[]>();
	for (const query of queries) {
		for (const { series, matchers } of query.selectors) {
			const named = samples.filter((sample) => sample.name === series);
			let problem: string | null = null;
			if (named.length === 0) problem = `${series} is not exported`;
			else if (!named.some((sample) => matches(sample.labels, matchers))) {
				problem = `no ${series} series has ${matchers.map(({ label, op, value }) => `${label}${op}"${value}"`).join(",")}`;
			}
			if (problem) problems.set(problem, [...(problems.get(problem) ?? []), `${query.panel} ${query.refId}`]);
		}
	}
	return [...problems].map(([problem, where]) => `${problem} (${where.join(", ")})`);
}
