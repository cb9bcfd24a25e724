/**
 * The committed deployment (docker-compose.yml, .env.example, Dockerfile, docker/) as docker-compose
 * itself renders it: only the gateway, Grafana and Jaeger's UI are published, every secret comes from the env file and
 * reaches only the services that need it, every node has a healthcheck, and the image runs
 * compiled JavaScript as a non-root user. There is no Docker engine here: `docker-compose config`
 * is the real parser and interpolation, and the Dockerfile is checked as text.
 *
 * docker-compose (Debian's v1: `apt-get install -y docker-compose`) missing: skipped loudly,
 * except with CI=true, where that fails.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");

const NODES = ["api", "clients", "goals"] as const;
const INFRA = ["rabbitmq", "redis", "postgres"] as const;
/** Prometheus, Grafana and Jaeger: third-party images, pinned, hardened as far as each image allows. */
const MONITORING = ["prometheus", "grafana", "jaeger"] as const;

/** Every secret, and the only services allowed to see it (least privilege). */
const SECRETS: Record<string, string[]> = {
	RABBITMQ_PASSWORD: ["rabbitmq", ...NODES],
	REDIS_PASSWORD: ["redis", ...NODES],
	POSTGRES_PASSWORD: ["postgres"],
	CLIENTS_DB_PASSWORD: ["postgres", "clients"],
	GOALS_DB_PASSWORD: ["postgres", "goals"],
	TRANSPORTER_SECRET: [...NODES],
	ADMIN_TOKEN: ["api"],
	GRAFANA_ADMIN_PASSWORD: ["grafana"],
};
/** Secrets the compose file must refuse to start without (ADMIN_TOKEN may stay empty: admin off). */
const REQUIRED = Object.keys(SECRETS).filter((name) => name !== "ADMIN_TOKEN");
const SECRET_NAME = /PASS|SECRET|TOKEN|AUTH/;

interface Service {
	image?: string;
	ports?: unknown[];
	expose?: unknown[];
	networks?: Record<string, unknown> | string[];
	environment?: Record<string, string | null>;
	command?: string[] | string;
	healthcheck?: { test?: string[] | string; disable?: boolean };
	stop_grace_period?: string;
	read_only?: boolean;
	cap_drop?: string[];
	security_opt?: string[];
}
interface Rendered {
	services: Record<string, Service>;
	networks?: Record<string, { internal?: boolean } | null>;
}

function composeVersion(): string | null {
	const res = spawnSync("docker-compose", ["version", "--short"], { encoding: "utf8" });
	return res.status === 0 ? res.stdout.trim() : null;
}

const version = composeVersion();
const describeWithCompose = (title: string, body: () => void): void => {
	if (version !== null) {
		describe(title, body);
		return;
	}
	if (process.env.CI === "true") {
		describe(title, () => {
			test("docker-compose is installed (CI=true)", () => {
				throw new Error("docker-compose is not installed: apt-get install -y docker-compose");
			});
		});
		return;
	}
	console.warn(`\n*** SKIPPED "${title}": docker-compose is not installed (apt-get install -y docker-compose; with CI=true this fails) ***\n`);
	describe.skip(title, body);
};

let dir = "";
/** The env file made from .env.example, with a fresh random value for every secret. */
let secrets: Record<string, string> = {};

/** .env.example's lines as name → value, in order. */
function exampleValues(): Map<string, string> {
	const values = new Map<string, string>();
	for (const line of read(".env.example").split("\n")) {
		const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
		if (match) values.set(match[1], match[2]);
	}
	return values;
}

function writeEnv(file: string, overrides: Record<string, string>): string {
	const values = exampleValues();
	for (const [name, value] of Object.entries(overrides)) values.set(name, value);
	writeFileSync(file, `${[...values].map(([name, value]) => `${name}=${value}`).join("\n")}\n`);
	return file;
}

/** `docker-compose config` with nothing from our own environment but PATH and HOME. */
function composeConfig(envFile: string): { status: number | null; stdout: string; stderr: string } {
	return spawnSync("docker-compose", ["-f", "docker-compose.yml", "--env-file", envFile, "config"], {
		cwd: ROOT,
		env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.homedir() },
		encoding: "utf8",
	});
}

/** The rendered YAML as data: v1 is a Python program and reads YAML with PyYAML; v2 prints JSON. */
function render(envFile: string): Rendered {
	if (version?.startsWith("1.")) {
		const res = composeConfig(envFile);
		if (res.status !== 0) throw new Error(`docker-compose config failed:\n${res.stderr}`);
		const json = spawnSync("python3", ["-c", "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"], {
			input: res.stdout,
			encoding: "utf8",
		});
		if (json.status !== 0) throw new Error(`reading the rendered YAML failed:\n${json.stderr}`);
		return JSON.parse(json.stdout) as Rendered;
	}
	const res = spawnSync("docker-compose", ["-f", "docker-compose.yml", "--env-file", envFile, "config", "--format", "json"], {
		cwd: ROOT,
		env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.homedir() },
		encoding: "utf8",
	});
	if (res.status !== 0) throw new Error(`docker-compose config failed:\n${res.stderr}`);
	return JSON.parse(res.stdout) as Rendered;
}

/** Every string in a value, with the path that leads to it. */
function strings(value: unknown, at = ""): Array<{ at: string; text: string }> {
	if (typeof value === "string") return [{ at, text: value }];
	if (Array.isArray(value)) return value.flatMap((item, i) => strings(item, `${at}[${i}]`));
	if (value && typeof value === "object") {
		return Object.entries(value).flatMap(([key, item]) => [...strings(key, `${at}.${key}(key)`), ...strings(item, `${at}.${key}`)]);
	}
	return [];
}

function networksOf(service: Service): string[] {
	const networks = service.networks ?? [];
	return (Array.isArray(networks) ? networks : Object.keys(networks)).sort();
}

/** Credentials a string carries: the password of a URL's user info. */
function urlPasswords(text: string): string[] {
	return [...text.matchAll(/[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:([^\s@/]+)@/gi)].map((match) => match[1]);
}

describeWithCompose("docker-compose.yml for a real deployment", () => {
	let rendered: Rendered;

	beforeAll(() => {
		dir = mkdtempSync(path.join(os.tmpdir(), "cg-compose-"));
		secrets = Object.fromEntries(Object.keys(SECRETS).map((name) => [name, `${name.toLowerCase()}${randomBytes(12).toString("hex")}`]));
		rendered = render(writeEnv(path.join(dir, "env"), secrets));
	});

	afterAll(() => {
		if (dir) rmSync(dir, { recursive: true, force: true });
	});

	test("only the api, Grafana and Jaeger's UI publish a port, on loopback by default; everything else is on the internal network only", () => {
		const published = Object.entries(rendered.services).filter(([, service]) => (service.ports ?? []).length > 0);
		expect(published.map(([name]) => name).sort()).toEqual(["api", "grafana", "jaeger"]);
		expect(rendered.services.jaeger.ports).toEqual([expect.stringMatching(/^127\.0\.0\.1:16686:16686(\/tcp)?$/)]);
		expect(rendered.services.api.ports).toEqual([expect.stringMatching(/^127\.0\.0\.1:3000:3000(\/tcp)?$/)]);
		expect(rendered.services.grafana.ports).toEqual([expect.stringMatching(/^127\.0\.0\.1:3001:3000(\/tcp)?$/)]);
		expect(rendered.networks?.backend?.internal).toBe(true);
		for (const name of [...INFRA, "clients", "goals", "prometheus"]) {
			expect({ name, networks: networksOf(rendered.services[name]) }).toEqual({ name, networks: ["backend"] });
		}
		expect(networksOf(rendered.services.api)).toEqual(["backend", "edge"]);
		expect(networksOf(rendered.services.grafana)).toEqual(["backend", "edge"]);
		expect(rendered.networks?.edge?.internal ?? false).toBe(false);
	});

	test("every secret in the rendered config is one we supplied, and reaches only the services that need it", () => {
		const supplied = new Set(Object.values(secrets));
		for (const [name, service] of Object.entries(rendered.services)) {
			// every credential-shaped value: a secret-named variable, a URL's password, redis' --requirepass
			const credentials: Array<{ at: string; value: string }> = [];
			for (const [key, value] of Object.entries(service.environment ?? {})) {
				if (SECRET_NAME.test(key) && value) credentials.push({ at: `${name}.environment.${key}`, value });
				for (const password of urlPasswords(value ?? "")) credentials.push({ at: `${name}.environment.${key} (URL)`, value: password });
			}
			const command = Array.isArray(service.command) ? service.command : [];
			command.forEach((arg, i) => {
				if (arg === "--requirepass") credentials.push({ at: `${name}.command`, value: command[i + 1] });
			});
			for (const credential of credentials) {
				expect({ ...credential, supplied: supplied.has(credential.value) }).toEqual({ ...credential, supplied: true });
			}
		}
		for (const [secret, value] of Object.entries(secrets)) {
			const seenIn = Object.entries(rendered.services)
				.filter(([, service]) => strings(service).some(({ text }) => text.includes(value)))
				.map(([name]) => name)
				.sort();
			expect({ secret, seenIn }).toEqual({ secret, seenIn: [...SECRETS[secret]].sort() });
		}
		// nothing outside the services (networks, volumes) carries one either
		const outside = strings({ ...rendered, services: undefined }).filter(({ text }) => [...supplied].some((s) => text.includes(s)));
		expect(outside).toEqual([]);
	});

	// biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is compose's syntax, named in the title
	test("the committed files hold no password: every credential is a ${VAR} from the env file, required unless optional by design", () => {
		const raw = read("docker-compose.yml");
		const instructions = raw.replace(/^\s*#.*\n/gm, ""); // comments may name what the file leaves out
		const interpolation = /^\$\{[A-Z][A-Z0-9_]*(:\?[^}]*)?\}$/;
		const optional = /^\$\{[A-Z][A-Z0-9_]*:-\}$/; // an empty default: the feature is off
		for (const password of urlPasswords(raw)) expect(password).toMatch(interpolation);
		const secretLines = [...raw.matchAll(/^\s*([A-Z][A-Z0-9_]*):\s*(.*)$/gm)].filter(([, key]) => SECRET_NAME.test(key));
		expect(secretLines.length).toBeGreaterThanOrEqual(6);
		for (const [, key, value] of secretLines) {
			expect({ key, ok: interpolation.test(value.trim()) || optional.test(value.trim()) }).toEqual({ key, ok: true });
		}
		expect(raw).toMatch(/"--requirepass", "\$\{REDIS_PASSWORD:\?[^}]*\}"/);
		expect(instructions).not.toMatch(/guest/);
		expect(instructions).not.toMatch(/management/);
		// .env.example: every variable the compose file reads is listed, and no secret has a value
		const example = exampleValues();
		const interpolated = new Set([...instructions.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((match) => match[1]));
		expect([...interpolated].filter((name) => !example.has(name))).toEqual([]);
		for (const name of Object.keys(SECRETS)) expect({ name, value: example.get(name) }).toEqual({ name, value: "" });
		// the init script takes the role passwords from its environment
		const init = read("docker/postgres-init.sh");
		expect(init).toMatch(/\$CLIENTS_DB_PASSWORD/);
		expect(init).toMatch(/\$GOALS_DB_PASSWORD/);
		expect(init).not.toMatch(/PASSWORD\s+'/);
		expect(read(".gitignore")).toMatch(/^\.env$/m);
		expect(read(".dockerignore")).toMatch(/^\.env$/m);
	});

	test.each(REQUIRED)("without %s, docker-compose refuses the file and names it", (name) => {
		const res = composeConfig(writeEnv(path.join(dir, `env-without-${name}`), { ...secrets, [name]: "" }));
		expect(res.status).not.toBe(0);
		expect(res.stderr).toContain(`set ${name} in .env`);
	});

	test("RabbitMQ has the system's own user and vhost, no guest and no management UI; Redis requires its password", () => {
		const rabbit = rendered.services.rabbitmq;
		expect(rabbit.image).not.toMatch(/management/);
		expect(rabbit.environment).toEqual(
			expect.objectContaining({ RABBITMQ_DEFAULT_USER: "cg", RABBITMQ_DEFAULT_PASS: secrets.RABBITMQ_PASSWORD, RABBITMQ_DEFAULT_VHOST: "cg" }),
		);
		for (const name of NODES) {
			const env = rendered.services[name].environment ?? {};
			expect(env.TRANSPORTER).toBe(`amqp://cg:${secrets.RABBITMQ_PASSWORD}@rabbitmq:5672/cg`);
			expect(env.CACHER).toBe(`redis://:${secrets.REDIS_PASSWORD}@redis:6379`);
			expect(env.TRANSPORTER_SECRET).toBe(secrets.TRANSPORTER_SECRET);
		}
		expect(rendered.services.redis.command).toEqual(expect.arrayContaining(["--requirepass", secrets.REDIS_PASSWORD]));
	});

	test("each service node reaches only its own database, with its own non-superuser role", () => {
		expect(rendered.services.clients.environment?.CLIENTS_DB_URI).toBe(`postgres://clients:${secrets.CLIENTS_DB_PASSWORD}@postgres:5432/clients`);
		expect(rendered.services.goals.environment?.GOALS_DB_URI).toBe(`postgres://goals:${secrets.GOALS_DB_PASSWORD}@postgres:5432/goals`);
		expect(Object.keys(rendered.services.api.environment ?? {}).filter((key) => key.endsWith("_DB_URI"))).toEqual([]);
		expect(rendered.services.clients.environment?.GOALS_DB_URI).toBeUndefined();
		expect(rendered.services.goals.environment?.CLIENTS_DB_URI).toBeUndefined();
	});

	test("every service has a healthcheck; the nodes use the compiled healthcheck and get time to stop", () => {
		for (const [name, service] of Object.entries(rendered.services)) {
			expect({ name, test: service.healthcheck?.test, disabled: service.healthcheck?.disable ?? false }).toEqual({
				name,
				test: expect.anything(),
				disabled: false,
			});
		}
		for (const name of NODES) {
			const service = rendered.services[name];
			expect(service.healthcheck?.test).toEqual(["CMD", "node", "dist/bin/healthcheck.js"]);
			// the contract's stop takes up to 10 s: Docker must not SIGKILL before that
			expect(Number(/^(\d+)s$/.exec(service.stop_grace_period ?? "")?.[1] ?? 0)).toBeGreaterThan(10);
			expect(service.read_only).toBe(true);
			expect(service.cap_drop).toEqual(["ALL"]);
		}
	});

	test("the nodes send their spans to Jaeger's Zipkin endpoint unless TRACING says otherwise", () => {
		for (const name of NODES) {
			expect({ name, ...rendered.services[name].environment }).toMatchObject({ name, TRACING: "zipkin", ZIPKIN_URL: "http://jaeger:9411" });
		}
	});

	test("AMQP_QUEUE_TYPE reaches every node: classic as .env.example has it, quorum when .env says so", () => {
		for (const name of NODES) expect({ name, type: rendered.services[name].environment?.AMQP_QUEUE_TYPE }).toEqual({ name, type: "classic" });
		const quorum = render(writeEnv(path.join(dir, "env-quorum"), { ...secrets, AMQP_QUEUE_TYPE: "quorum" }));
		for (const name of NODES) expect({ name, type: quorum.services[name].environment?.AMQP_QUEUE_TYPE }).toEqual({ name, type: "quorum" });
	});

	test("Prometheus, Grafana and Jaeger: images pinned to a version, read-only, every capability dropped, no new privileges", () => {
		for (const name of MONITORING) {
			const service = rendered.services[name];
			// a version tag, never latest or a bare major: a pull must not change what runs
			expect({ name, image: service.image }).toEqual({ name, image: expect.stringMatching(/^[a-z0-9/._-]+:v?\d+\.\d+\.\d+$/) });
			expect({ name, read_only: service.read_only, cap_drop: service.cap_drop, security_opt: service.security_opt }).toEqual({
				name,
				read_only: true,
				cap_drop: ["ALL"],
				security_opt: ["no-new-privileges:true"],
			});
		}
		// Grafana's admin login comes from .env; sign-up is off
		expect(rendered.services.grafana.environment).toEqual(
			expect.objectContaining({ GF_SECURITY_ADMIN_PASSWORD: secrets.GRAFANA_ADMIN_PASSWORD, GF_USERS_ALLOW_SIGN_UP: "false" }),
		);
	});
});

describe("Dockerfile", () => {
	// instructions only: comments may name what the image leaves out
	const dockerfile = read("Dockerfile").replace(/^\s*#.*\n/gm, "");
	const stages = dockerfile.split(/^(?=FROM\s)/m).filter((stage) => stage.startsWith("FROM"));
	const runtime = stages[stages.length - 1] ?? "";
	const build = stages[0] ?? "";

	test("multi-stage on an even-numbered (LTS) Node of at least 24; the build stage compiles sqlite3 and the TypeScript", () => {
		expect(stages.length).toBeGreaterThanOrEqual(2);
		for (const stage of stages) {
			const major = Number(/^FROM\s+node:(\d+)-/.exec(stage)?.[1]);
			expect(major).toBeGreaterThanOrEqual(24);
			expect(major % 2).toBe(0);
		}
		expect(build).toMatch(/apt-get install[^\n]*\bg\+\+/);
		expect(build).toMatch(/build_from_source=true npm ci/);
		expect(build).toMatch(/npm run build/);
		expect(build).toMatch(/npm prune --omit=dev/);
	});

	test("the runtime stage has no compilers, copies only production node_modules and dist, runs node on dist/ as a non-root user", () => {
		expect(runtime).not.toMatch(/apt-get install|\bg\+\+|\bgcc\b|python3|\bmake\b/);
		expect(runtime).not.toMatch(/^COPY\s+(?!--from=)/m); // nothing from the context: sources and .env stay out
		expect(runtime).toMatch(/^COPY --from=build \/app\/node_modules/m);
		expect(runtime).toMatch(/^COPY --from=build \/app\/dist/m);
		const users = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((match) => match[1]);
		expect(users.length).toBeGreaterThan(0);
		expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
		// node with the flags npm start gives it (bin/node-flags.js), then the program
		const flags = require("../../bin/node-flags.js") as string[];
		expect(runtime).toContain(`\nCMD ${JSON.stringify(["node", ...flags, "dist/bin/start.js"]).replace(/","/g, '", "')}\n`);
		expect(runtime).toMatch(/^HEALTHCHECK .*CMD \["node", "dist\/bin\/healthcheck\.js"\]$/m);
		expect(runtime).not.toMatch(/tsx|\.ts\b/);
	});
});
