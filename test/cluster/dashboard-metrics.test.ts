/**
 * The Grafana dashboard (deploy/grafana/dashboards/microservices.json) reads only metrics the
 * nodes really export. A real cluster (api, clients and goals processes over RabbitMQ, Redis and
 * PostgreSQL, each with METRICS_PORT) is given the traffic that makes every labelled series exist
 * (Moleculer creates one on first use): client and goal changes, so events are published and
 * applied both ways; an event that fails until it is a dead letter (fault injection in the goal
 * service); a 404 answer. Then every series every panel's PromQL names must be on the /metrics
 * page of at least one node. So must every series an alerting rule (deploy/prometheus/alerts.yml)
 * selects, once a node without the secret has been dropped (cg_transit_rejected) and the gateway
 * has answered a 503 (cg_http_errors).
 *
 * And the monitoring files agree with each other and with docker-compose.yml: the dashboard's data
 * source uid is provisioned and points at the compose Prometheus; the dashboard provider reads the
 * folder compose mounts the dashboards into; Prometheus scrapes exactly the compose services that
 * export metrics, on their METRICS_PORT.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { METRICS } from "../../lib/constants";
import { type Cluster as ClusterType, Cluster } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import {
	alertQueries,
	allPanels,
	DASHBOARDS_DIR,
	type DashboardQuery,
	dashboardQueries,
	dashboards,
	parseExposition,
	type Sample,
	unmatchedSelectors,
	PROMETHEUS_CONFIG,
	PROVISIONING_DIR,
	ROOT,
	readYaml,
} from "../helpers/monitoring";
import { freePort } from "../helpers/node-process";
import { metricNames, selectors } from "../helpers/promql-metrics";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

const DASHBOARD_FILE = "microservices.json";

/** A Moleculer metric's name as its Prometheus reporter exports it (dots and dashes become underscores). */
const exported = (name: string) => name.replace(/[.-]/g, "_");

/** What the dashboard must show (issue 11), by the metric family that shows it. */
const REQUIRED_FAMILIES = [
	"moleculer.request.total", // requests by route
	"moleculer.request.error.total", // errors by route
	METRICS.eventsPublished, // event throughput
	METRICS.eventsApplied,
	METRICS.propagationMs, // propagation p50/p99
	METRICS.consumerLag,
	METRICS.queueMessages, // queue depth
	METRICS.retriesPending,
	METRICS.deadLetters,
	METRICS.eventsRetried,
	METRICS.eventsDeadLettered,
	METRICS.relayLag, // the AMQP stream's relays
	METRICS.relayPublished,
].map(exported);

interface ComposeService {
	image?: string;
	command?: string[];
	environment?: Record<string, string>;
	volumes?: string[];
}
interface Compose {
	services: Record<string, ComposeService>;
}
interface PrometheusConfig {
	scrape_configs: Array<{ job_name: string; dns_sd_configs?: Array<{ names: string[]; type: string; port: number }>; static_configs?: unknown[] }>;
}
interface DataSourcesFile {
	datasources: Array<{ name: string; uid: string; type: string; url: string }>;
}
interface ProvidersFile {
	providers: Array<{ name: string; type: string; options: { path: string } }>;
}

/** The container path a service mounts a repository path at (`./a/b:/c:ro` → `/c`), or undefined. */
function mountTarget(service: ComposeService, repoPath: string): string | undefined {
	for (const volume of service.volumes ?? []) {
		const [source, target] = volume.split(":");
		if (source.startsWith(".") && path.resolve(ROOT, source) === path.resolve(ROOT, repoPath)) return target;
	}
	return undefined;
}

/** The files of one provisioning kind (datasources, dashboards), parsed. */
function provisioning<T>(kind: string): T[] {
	const dir = path.join(PROVISIONING_DIR, kind);
	return readdirSync(path.join(ROOT, dir))
		.filter((name) => /\.ya?ml$/.test(name))
		.map((name) => readYaml<T>(path.join(dir, name)));
}

describe("the monitoring files agree with each other and with docker-compose.yml", () => {
	const compose = readYaml<Compose>("docker-compose.yml");
	const grafana = compose.services.grafana;
	const prometheus = compose.services.prometheus;
	const dashboard = dashboards().get(DASHBOARD_FILE);

	test("the dashboard exists, with a recent schema, a uid, and every query readable", () => {
		expect(dashboard).toBeDefined();
		expect(dashboard!.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
		expect(dashboard!.schemaVersion).toBeGreaterThanOrEqual(39);
		const queries = dashboardQueries(dashboard!);
		expect(queries.length).toBeGreaterThan(0);
		for (const query of queries)
			expect({ query: `${query.panel} ${query.refId}`, names: query.metrics.length > 0 }).toEqual({ query: `${query.panel} ${query.refId}`, names: true });
		const ids = allPanels(dashboard!).map((panel) => panel.id);
		expect(new Set(ids).size).toBe(ids.length);
	});

	test("it shows requests, errors, event throughput, propagation, lag, queue depth, retries and dead letters", () => {
		const families = new Set(dashboardQueries(dashboard!).flatMap((query) => query.metrics.map((ref) => ref.family)));
		expect(REQUIRED_FAMILIES.filter((family) => !families.has(family))).toEqual([]);
	});

	test("every data source the dashboard names is provisioned, and that one is the compose file's Prometheus", () => {
		const provisioned = provisioning<DataSourcesFile>("datasources").flatMap((file) => file.datasources);
		const used = new Set<string>();
		for (const panel of allPanels(dashboard!)) {
			for (const ref of [panel.datasource, ...(panel.targets ?? []).map((target) => target.datasource)]) {
				// every panel and query names its data source by uid: none depends on a default
				expect({ panel: panel.title, uid: ref?.uid }).toEqual({ panel: panel.title, uid: expect.any(String) });
				used.add(ref!.uid!);
			}
		}
		for (const uid of used) {
			const source = provisioned.find((candidate) => candidate.uid === uid);
			expect({ uid, type: source?.type, url: source?.url }).toEqual({ uid, type: "prometheus", url: "http://prometheus:9090" });
		}
		expect(prometheus).toBeDefined();
		expect(grafana).toBeDefined();
	});

	test("the dashboard provider reads the folder compose mounts the dashboards into; provisioning is mounted where Grafana reads it", () => {
		const providers = provisioning<ProvidersFile>("dashboards").flatMap((file) => file.providers);
		const dashboardsTarget = mountTarget(grafana, DASHBOARDS_DIR);
		expect(dashboardsTarget).toBeDefined();
		expect(providers.map((provider) => ({ type: provider.type, path: provider.options.path }))).toEqual([{ type: "file", path: dashboardsTarget }]);
		expect(mountTarget(grafana, PROVISIONING_DIR)).toBe("/etc/grafana/provisioning");
		// the home dashboard is the committed one, read from the same mounted folder
		expect(grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${dashboardsTarget}/${DASHBOARD_FILE}`);
		expect(existsSync(path.join(ROOT, DASHBOARDS_DIR, DASHBOARD_FILE))).toBe(true);
	});

	test("Prometheus reads the committed config and scrapes, by DNS, exactly the compose services that export metrics, on their METRICS_PORT", () => {
		const configFlag = prometheus.command?.find((arg) => arg.startsWith("--config.file="))?.split("=")[1];
		expect(configFlag).toBeDefined();
		expect(mountTarget(prometheus, PROMETHEUS_CONFIG)).toBe(configFlag);
		const exporting = Object.entries(compose.services)
			.filter(([, service]) => service.environment?.METRICS_PORT)
			.map(([name, service]) => ({ name, port: Number(service.environment!.METRICS_PORT), host: service.environment!.METRICS_HOST }))
			.sort((a, b) => a.name.localeCompare(b.name));
		expect(exporting.map((service) => service.name)).toEqual(["api", "clients", "goals"]);
		// bound to the container's interfaces, or Prometheus could not reach them
		for (const service of exporting) expect(service).toEqual({ ...service, host: "0.0.0.0" });
		const config = readYaml<PrometheusConfig>(PROMETHEUS_CONFIG);
		const scraped = config.scrape_configs
			.flatMap((job) => (job.dns_sd_configs ?? []).flatMap((sd) => sd.names.map((name) => ({ job: job.job_name, name, type: sd.type, port: sd.port }))))
			.sort((a, b) => a.name.localeCompare(b.name));
		// type A: every replica of a scaled service (docker compose up --scale goals=3) is a target
		expect(scraped).toEqual(exporting.map(({ name, port }) => ({ job: name, name, type: "A", port })));
		expect(config.scrape_configs.filter((job) => job.static_configs)).toEqual([]);
	});
});

describeWithInfra(["rabbitmq", "redis", "postgres"], "every metric the dashboard queries is exported by the nodes", () => {
	let cluster: ClusterType;
	const metricsPorts = new Map<string, number>();
	let queries: DashboardQuery[];
	let api: ReturnType<typeof client>;

	/** One node's samples, as Prometheus would scrape them. */
	async function scrape(node: string): Promise<Sample[]> {
		const res = await fetch(`http://127.0.0.1:${metricsPorts.get(node)}/metrics`);
		if (res.status !== 200) throw new Error(`${node}'s /metrics answered ${res.status}`);
		return parseExposition(await res.text());
	}

	/** Every node's samples. */
	async function scrapeAll(): Promise<Sample[]> {
		const all: Sample[] = [];
		for (const node of metricsPorts.keys()) all.push(...(await scrape(node)));
		return all;
	}

	/** The environment of a node whose Prometheus endpoint the test scrapes. */
	async function withMetrics(name: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
		const port = await freePort();
		metricsPorts.set(name, port);
		return { METRICS_PORT: String(port), METRICS_HOST: "127.0.0.1", ...extra };
	}

	beforeAll(async () => {
		queries = dashboardQueries(dashboards().get(DASHBOARD_FILE)!);
		cluster = new Cluster();
		await cluster.setUp();
		await cluster.start("clients-1", "clients", await withMetrics("clients-1"));
		// the goal service fails every event of client 1 (the first client of the fresh database):
		// three attempts, then a dead letter
		await cluster.start("goals-1", "goals", await withMetrics("goals-1", { FAULT_INJECTION: "1", FAULT_RULES: "apply:1:always" }));
		api = client(await cluster.startApi("api-1", await withMetrics("api-1")));

		const failing = await api.post("/clients", { name: "Dead Letter", email: "dead.letter@example.com" });
		expect(failing.status).toBe(201);
		expect(failing.body.id).toBe(1);
		const ann = await api.post("/clients", { name: "Ann", email: "ann@example.com" });
		expect(ann.status).toBe(201);
		expect((await api.put(`/clients/${ann.body.id}`, { name: "Ann Smith" })).status).toBe(200);
		expect((await api.post("/goals", { clientId: ann.body.id, goalName: "House", targetAmount: 250000 })).status).toBe(201);
		// an error answer, for the error counter
		expect((await api.get("/clients/999999")).status).toBe(404);
	});

	afterAll(async () => {
		await cluster?.tearDown();
	});

	test("each series a panel names is on the /metrics page of at least one node, with the labels the panel selects", async () => {
		// counters exist after the traffic above; the dead letter takes ~3 s of backoff, and the
		// consumers' gauges are sampled every few seconds
		await waitFor(
			async () => {
				const unmatched = unmatchedSelectors(queries, await scrapeAll());
				if (unmatched.length > 0) throw new Error(`not exported by any node: ${unmatched.join("; ")}`);
				return true;
			},
			{ timeoutMs: 60_000, intervalMs: 500, what: `every dashboard metric on a node's /metrics\n${cluster.logs()}` },
		);
	});

	test("the check fails for a name no node exports, and for labels no series has", async () => {
		const exported = await scrapeAll();
		const query = (expr: string): DashboardQuery => ({ panel: "typo", refId: "A", expr, metrics: metricNames(expr), selectors: selectors(expr) });
		expect(unmatchedSelectors([query('sum(rate(cg_events_published{event="client.updated"}[1m]))')], exported)).toEqual([]);
		expect(unmatchedSelectors([query("sum(rate(cg_events_publishd[1m]))")], exported)).toEqual(["cg_events_publishd is not exported (typo A)"]);
		// Moleculer's histograms export _sum and _count only with quantiles on: ours has buckets only
		expect(unmatchedSelectors([query("rate(cg_events_propagation_count[1m])")], exported)).toEqual(["cg_events_propagation_count is not exported (typo A)"]);
		expect(unmatchedSelectors([query('rate(cg_events_published{event="client.renamed"}[1m])')], exported)).toEqual([
			'no cg_events_published series has event="client.renamed" (typo A)',
		]);
	});
	test("each series an alert rule selects is on some node's /metrics page too, once a node without the secret and a 503 have been seen", async () => {
		// a node without TRANSPORTER_SECRET: every node drops and counts its packets (cg_transit_rejected)
		const rogue = new ServiceBroker({
			namespace: cluster.namespace,
			nodeID: `rogue-${process.pid}`,
			transporter: { type: "AMQP", options: { url: cluster.env().TRANSPORTER, autoDeleteQueues: false, queueOptions: { durable: false } } },
			logger: false,
		});
		await rogue.start();
		try {
			await waitFor(async () => (await cluster.counter("api-1", METRICS.transitRejected)) > 0, {
				timeoutMs: 20_000,
				what: "the api node to drop the rogue's packets",
			});
		} finally {
			await rogue.stop();
		}
		// a 503: the goal service gone (its own page read before it stops), its routes unavailable
		const goalsSamples = await scrape("goals-1");
		await cluster.stop("goals-1");
		metricsPorts.delete("goals-1");
		await waitFor(async () => (await api.get("/goals/1")).status === 503, { timeoutMs: 20_000, intervalMs: 200, what: "a 503 for a goal route" });
		// `up` is Prometheus' own
		const alerts = alertQueries().map((query) => ({
			...query,
			selectors: query.selectors.filter((one) => one.series !== "up"),
		}));
		expect(alerts.map((query) => query.panel)).toContain("HttpServerErrors");
		await waitFor(
			async () => {
				const unmatched = unmatchedSelectors(alerts, [...goalsSamples, ...(await scrapeAll())]);
				if (unmatched.length > 0) throw new Error(`not exported by any node: ${unmatched.join("; ")}`);
				return true;
			},
			{ timeoutMs: 30_000, intervalMs: 500, what: `every alert rule's series on a node's /metrics\n${cluster.logs()}` },
		);
	});
});
