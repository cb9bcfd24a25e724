/**
 * The alerting rules (deploy/prometheus/alerts.yml), checked and unit-tested by Prometheus' own
 * promtool (Debian's `prometheus` package; .ci/run installs it): `promtool check rules`, `promtool
 * test rules deploy/prometheus/alerts.test.yml` (a case where each rule fires and one where it
 * stays silent), and `promtool check config` of the compose Prometheus' config, which loads them.
 * Without promtool the suite is skipped with a loud notice, except with CI=true, where it fails.
 *
 * Beside it, what needs no promtool: every rule has its firing and its silent case, reads only
 * metrics the project registers (or Prometheus' own `up`), and is mounted where the config
 * looks for it. That the nodes really export those series is test/cluster/dashboard-metrics.test.ts's.
 */
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { METRICS } from "../../lib/constants";
import { ALERT_RULES, ALERT_TESTS, type AlertRulesFile, alertQueries, PROMETHEUS_CONFIG, ROOT, readYaml } from "../helpers/monitoring";

const run = promisify(execFile);

/** promtool's exit code and output (a failed check is an answer, not an exception). */
async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
	try {
		const { stdout, stderr } = await run("promtool", args, { cwd: ROOT });
		return { code: 0, output: stdout + stderr };
	} catch (err) {
		const failed = err as { code?: number | string; stdout?: string; stderr?: string };
		if (failed.code === "ENOENT") throw err;
		return { code: Number(failed.code), output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
	}
}

const promtoolFound = (() => {
	try {
		execFileSync("promtool", ["--version"], { stdio: "ignore" });
		return true;
	} catch {
		return false;
	}
})();

interface RuleTests {
	rule_files: string[];
	tests: Array<{ alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts?: unknown[] }> }>;
}

const rules = readYaml<AlertRulesFile>(ALERT_RULES).groups.flatMap((group) => group.rules);

/** The alerts the issue asks for; TransitPacketsDropped is ours on top. */
const REQUIRED = [
	"ConsumerLagGrowing",
	"RelayLagGrowing",
	"DeadLettersAppeared",
	"ConsumerPaused",
	"ServiceWithoutLiveNode",
	"HttpServerErrors",
	"HttpLatencyP99High",
];

describe("the rules without promtool", () => {
	test("every alert the issue asks for is there, each with a severity, a summary, a description and its section of docs/alerts.md", () => {
		expect(rules.map((rule) => rule.alert)).toEqual(expect.arrayContaining(REQUIRED));
		const docs = readFileSync(path.join(ROOT, "docs/alerts.md"), "utf8");
		for (const rule of rules) {
			expect({ alert: rule.alert, severity: rule.labels?.severity }).toEqual({ alert: rule.alert, severity: expect.stringMatching(/^(warning|critical)$/) });
			expect(rule.annotations).toEqual({ summary: expect.any(String), description: expect.any(String), runbook: `docs/alerts.md#${rule.alert.toLowerCase()}` });
			expect({ alert: rule.alert, documented: docs.includes(`## ${rule.alert}`) }).toEqual({ alert: rule.alert, documented: true });
		}
	});

	test("each rule has a case where it fires and one where it stays silent", () => {
		const tests = readYaml<RuleTests>(ALERT_TESTS);
		expect(tests.rule_files).toEqual([path.basename(ALERT_RULES)]);
		const cases = tests.tests.flatMap((group) => group.alert_rule_test ?? []);
		for (const { alert } of rules) {
			const mine = cases.filter((one) => one.alertname === alert);
			expect({ alert, fires: mine.some((one) => (one.exp_alerts ?? []).length > 0), silent: mine.some((one) => (one.exp_alerts ?? []).length === 0) }).toEqual({
				alert,
				fires: true,
				silent: true,
			});
		}
	});

	test("they read only what the nodes register (dots become underscores), Moleculer's request metrics, and Prometheus' own up", () => {
		const ours = Object.values(METRICS).map((name) => name.replace(/[.-]/g, "_"));
		// the consumer's pause gauge comes with the pause (issue 21, part 2): 1 = paused, label consumer
		const known = new Set([...ours, "moleculer_request_total", "moleculer_request_time", "up", "cg_consumer_paused"]);
		const unknown = alertQueries().flatMap((query) => query.metrics.filter((ref) => !known.has(ref.family)).map((ref) => `${query.panel}: ${ref.series}`));
		expect(unknown).toEqual([]);
	});

	test("docker-compose.yml mounts the rules beside the config, where its rule_files names them", () => {
		const compose = readYaml<{ services: { prometheus: { command: string[]; volumes: string[] } } }>("docker-compose.yml");
		const config = readYaml<{ rule_files: string[] }>(PROMETHEUS_CONFIG);
		const configPath = compose.services.prometheus.command.find((arg) => arg.startsWith("--config.file="))!.split("=")[1];
		const mounts = compose.services.prometheus.volumes.map((volume) => volume.split(":"));
		const target = mounts.find(([source]) => path.resolve(ROOT, source) === path.resolve(ROOT, ALERT_RULES))?.[1];
		expect(config.rule_files.map((file) => path.posix.resolve(path.posix.dirname(configPath), file))).toEqual([target]);
	});
});

const withPromtool = promtoolFound ? describe : describe.skip;
if (!promtoolFound) {
	const notice = "promtool is not installed (apt-get install prometheus): the alerting rules are not checked";
	if (process.env.CI === "true") {
		test("promtool is installed (CI=true)", () => {
			throw new Error(notice);
		});
	} else console.warn(`\n*** SKIPPED "promtool": ${notice} (with CI=true this fails) ***\n`);
}

withPromtool("promtool", () => {
	test("check rules: the file is valid, every rule found", async () => {
		const { code, output } = await promtool("check", "rules", ALERT_RULES);
		expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
	});

	test("test rules: every case passes", async () => {
		const { code, output } = await promtool("test", "rules", ALERT_TESTS);
		expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining("SUCCESS") });
	});

	test("check config: the compose Prometheus' config is valid and loads the rules", async () => {
		const { code, output } = await promtool("check", "config", PROMETHEUS_CONFIG);
		expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
	});

	test("the cases can fail: with a rule's threshold changed, promtool reports the case that no longer holds", async () => {
		const dir = mkdtempSync(path.join(os.tmpdir(), "cg-alerts-"));
		try {
			copyFileSync(path.join(ROOT, ALERT_TESTS), path.join(dir, path.basename(ALERT_TESTS)));
			const changed = readFileSync(path.join(ROOT, ALERT_RULES), "utf8").replace(") > 0.05", ") > 0.2");
			expect(changed).not.toBe(readFileSync(path.join(ROOT, ALERT_RULES), "utf8"));
			writeFileSync(path.join(dir, path.basename(ALERT_RULES)), changed);
			const { code, output } = await promtool("test", "rules", path.join(dir, path.basename(ALERT_TESTS)));
			expect(code).not.toBe(0);
			expect(output).toMatch(/FAILED:[\s\S]*alertname: HttpServerErrors/);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
