/**
 * The Kubernetes example, deploy/k8s/ (docs/kubernetes.md), checked without a cluster: every
 * document of every YAML file there is valid against the Kubernetes v1.33.0 schemas
 * (kubernetes-models 4.5, whose objects validate themselves), and what the schemas cannot say is
 * asserted here:
 * - the probes are the contract's: GET /api/health is the gateway's liveness (and startup),
 *   GET /api/ready its readiness, on its HTTP port; the clients and goals nodes, which have no
 *   HTTP port, run the image's healthcheck (their heartbeat file), with no readiness probe;
 * - every credential comes from a secretKeyRef, never a value or the ConfigMap;
 * - each node's environment is docker-compose.yml's for the same service, name for name and, for
 *   everything that is not a credential, value for value (compose's defaults);
 * - selectors select their own pods, the Service the gateway's; requests and limits are set.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1";
import { ConfigMap, type IConfigMap, type IContainer, type IEnvVar, type IProbe, type IService, Service } from "kubernetes-models/v1";
import { parse, parseAllDocuments } from "yaml";

const ROOT = path.resolve(__dirname, "../..");
const K8S_DIR = path.join(ROOT, "deploy/k8s");

/** The kinds the example uses, each with the model that validates it. */
const MODELS: Record<string, (doc: object) => { validate(): void }> = {
	"apps/v1 Deployment": (doc) => new Deployment(doc as IDeployment),
	"v1 Service": (doc) => new Service(doc as IService),
	"v1 ConfigMap": (doc) => new ConfigMap(doc as IConfigMap),
};

interface Manifest {
	file: string;
	doc: { apiVersion?: string; kind?: string; metadata?: { name?: string } } & Record<string, unknown>;
}

function loadManifests(): Manifest[] {
	const files = readdirSync(K8S_DIR).filter((file) => /\.ya?ml$/.test(file));
	return files.flatMap((file) =>
		parseAllDocuments(readFileSync(path.join(K8S_DIR, file), "utf8")).map((document) => {
			if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((error) => error.message).join("; ")}`);
			return { file, doc: document.toJS() };
		}),
	);
}

const manifests = loadManifests();
const ofKind = <T>(kind: string): T[] => manifests.filter(({ doc }) => doc.kind === kind).map(({ doc }) => doc as T);
const deployments = ofKind<IDeployment>("Deployment");
const services = ofKind<IService>("Service");
const configMaps = ofKind<IConfigMap>("ConfigMap");

/** The one container of the Deployment named `cg-<node>`. */
function containerOf(node: string): IContainer {
	const deployment = deployments.find((d) => d.metadata?.name === `cg-${node}`);
	if (!deployment) throw new Error(`no Deployment cg-${node} in deploy/k8s`);
	const containers = deployment.spec?.template.spec?.containers ?? [];
	expect(containers).toHaveLength(1);
	return containers[0];
}

function deploymentOf(node: string): IDeployment {
	const deployment = deployments.find((d) => d.metadata?.name === `cg-${node}`);
	if (!deployment) throw new Error(`no Deployment cg-${node} in deploy/k8s`);
	return deployment;
}

/** An HTTP probe as "path on port N" (a named port resolved to its number), or what else it is. */
function probeTarget(container: IContainer, probe: IProbe | undefined): string {
	if (!probe) return "none";
	if (probe.exec) return `exec ${probe.exec.command?.join(" ")}`;
	if (!probe.httpGet) return "neither exec nor httpGet";
	const { port, path: probePath } = probe.httpGet;
	const number = typeof port === "number" ? port : container.ports?.find((p) => p.name === port)?.containerPort;
	return `GET ${probePath} on port ${number}`;
}

/** docker-compose.yml's environment of one service, anchors and merge keys (`<<: *node-env`) resolved. */
function composeEnv(service: string): Record<string, string> {
	const compose = parse(readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8"), { merge: true });
	return compose.services[service].environment as Record<string, string>;
}

/** The variables of .env a compose value interpolates: `${NAME}`, `${NAME:-default}`, `${NAME:?message}`. */
function interpolated(value: string): string[] {
	return [...String(value).matchAll(/\$\{([A-Z0-9_]+)/g)].map((match) => match[1]);
}

/** A compose value with no .env: its default (`${NAME:-default}`), or the value itself when it names no variable. */
function composeDefault(value: string): string {
	return String(value).replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, "$1");
}

/** A value holds a credential when it interpolates a password, a secret or a token of .env. */
const isCredential = (value: string) => interpolated(value).some((name) => /PASSWORD|SECRET|TOKEN/.test(name));

/** A node's environment in deploy/k8s: the ConfigMaps it takes whole, then its own `env`. */
function k8sEnv(container: IContainer): Map<string, { value?: string; from?: IEnvVar["valueFrom"] }> {
	const env = new Map<string, { value?: string; from?: IEnvVar["valueFrom"] }>();
	for (const source of container.envFrom ?? []) {
		const map = configMaps.find((c) => c.metadata?.name === source.configMapRef?.name);
		if (!map) throw new Error(`envFrom names no ConfigMap of deploy/k8s: ${JSON.stringify(source)}`);
		for (const [name, value] of Object.entries(map.data ?? {})) env.set(name, { value });
	}
	for (const variable of container.env ?? []) env.set(variable.name, variable.valueFrom ? { from: variable.valueFrom } : { value: variable.value ?? "" });
	return env;
}

const NODES = ["api", "clients", "goals"] as const;

test("every document of every YAML file in deploy/k8s is valid against the Kubernetes v1.33.0 schemas", () => {
	expect(manifests.length).toBeGreaterThan(0);
	for (const { file, doc } of manifests) {
		const model = MODELS[`${doc.apiVersion} ${doc.kind}`];
		expect({ file, kind: `${doc.apiVersion} ${doc.kind}`, known: model !== undefined }).toEqual({ file, kind: `${doc.apiVersion} ${doc.kind}`, known: true });
		expect(() => model(doc).validate()).not.toThrow();
	}
	// the validation can fail: a container without its name, a port that is no number
	const broken = structuredClone(deploymentOf("api"));
	delete (broken.spec!.template.spec!.containers[0] as Partial<IContainer>).name;
	expect(() => new Deployment(broken).validate()).toThrow(/name/);
	const badPort = structuredClone(deploymentOf("api"));
	(badPort.spec!.template.spec!.containers[0].ports![0] as { containerPort: unknown }).containerPort = "3000";
	expect(() => new Deployment(badPort).validate()).toThrow(/containerPort/);
});

test("one Deployment for each of api, clients and goals, each selecting its own pods, and a Service for the gateway's", () => {
	expect(deployments.map((d) => d.metadata?.name).sort()).toEqual(["cg-api", "cg-clients", "cg-goals"]);
	for (const node of NODES) {
		const deployment = deploymentOf(node);
		const selector = deployment.spec?.selector.matchLabels ?? {};
		expect(Object.keys(selector).length).toBeGreaterThan(0);
		expect(deployment.spec?.template.metadata?.labels).toMatchObject(selector);
		// no other Deployment's pods match it
		for (const other of NODES.filter((name) => name !== node)) {
			const labels = deploymentOf(other).spec?.template.metadata?.labels ?? {};
			expect({ node, other, overlaps: Object.entries(selector).every(([key, value]) => labels[key] === value) }).toEqual({ node, other, overlaps: false });
		}
	}

	expect(services.map((s) => s.metadata?.name)).toEqual(["cg-api"]);
	const [service] = services;
	const selects = (node: string) =>
		Object.entries(service.spec?.selector ?? {}).every(([key, value]) => deploymentOf(node).spec?.template.metadata?.labels?.[key] === value);
	expect(NODES.filter(selects)).toEqual(["api"]);
	// its target is the gateway's HTTP port, the PORT it is given
	const api = containerOf("api");
	const http = api.ports?.find((port) => port.name === service.spec?.ports?.[0].targetPort);
	expect(http?.containerPort).toBe(Number(k8sEnv(api).get("PORT")?.value));
});

test("the gateway's probes are the contract's: liveness and startup GET /api/health, readiness GET /api/ready, on its HTTP port", () => {
	const api = containerOf("api");
	const port = Number(k8sEnv(api).get("PORT")?.value);
	expect({
		liveness: probeTarget(api, api.livenessProbe),
		startup: probeTarget(api, api.startupProbe),
		readiness: probeTarget(api, api.readinessProbe),
	}).toEqual({
		liveness: `GET /api/health on port ${port}`,
		startup: `GET /api/health on port ${port}`,
		readiness: `GET /api/ready on port ${port}`,
	});
});

test("clients and goals have no HTTP port: liveness and startup are the image's healthcheck (its heartbeat file), with no readiness probe", () => {
	const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
	// the same command as the image's own HEALTHCHECK
	expect(dockerfile).toContain('HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/bin/healthcheck.js"]');
	const heartbeatFile = /HEARTBEAT_FILE=(\S+)/.exec(dockerfile)?.[1];
	expect(heartbeatFile).toBe("/tmp/heartbeat");
	for (const node of ["clients", "goals"]) {
		const container = containerOf(node);
		expect({
			node,
			liveness: probeTarget(container, container.livenessProbe),
			startup: probeTarget(container, container.startupProbe),
			readiness: probeTarget(container, container.readinessProbe),
			httpPorts: (container.ports ?? []).filter((port) => port.name === "http"),
		}).toEqual({ node, liveness: "exec node dist/bin/healthcheck.js", startup: "exec node dist/bin/healthcheck.js", readiness: "none", httpPorts: [] });
	}
	// the heartbeat file is writable: the root file system is read-only, its folder an emptyDir
	for (const node of NODES) {
		const container = containerOf(node);
		expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
		const mount = container.volumeMounts?.find((m) => m.mountPath === path.dirname(heartbeatFile ?? ""));
		const volume = deploymentOf(node).spec?.template.spec?.volumes?.find((v) => v.name === mount?.name);
		expect({ node, emptyDir: volume?.emptyDir !== undefined }).toEqual({ node, emptyDir: true });
	}
});

test("every credential comes from a secretKeyRef: never a value, never the ConfigMap", () => {
	const credentials = new Set<string>();
	for (const node of NODES) {
		for (const [name, value] of Object.entries(composeEnv(node))) if (isCredential(value)) credentials.add(name);
	}
	// what docker-compose.yml fills from .env's passwords, secrets and tokens
	expect([...credentials].sort()).toEqual(["ADMIN_TOKEN", "CACHER", "CLIENTS_DB_URI", "GOALS_DB_URI", "TRANSPORTER", "TRANSPORTER_SECRET"]);
	for (const node of NODES) {
		const container = containerOf(node);
		for (const variable of container.env ?? []) {
			if (!credentials.has(variable.name)) continue;
			expect({ node, name: variable.name, value: variable.value, secret: variable.valueFrom?.secretKeyRef?.name }).toEqual({
				node,
				name: variable.name,
				value: undefined,
				secret: "cg-secrets",
			});
			expect(variable.valueFrom?.secretKeyRef?.key).toMatch(/^[a-z-]+$/);
		}
	}
	for (const map of configMaps) expect(Object.keys(map.data ?? {}).filter((name) => credentials.has(name))).toEqual([]);
	// nor a password in any plain value (user:password@ in a URL)
	for (const { file, doc } of manifests) expect({ file, userinfo: JSON.stringify(doc).match(/:\/\/[^/"@\s]+:[^/"@\s]+@/g) }).toEqual({ file, userinfo: null });
});

test("each node's environment is docker-compose.yml's: the same variables, the same values (compose's defaults) where no credential is in them", () => {
	for (const node of NODES) {
		const compose = composeEnv(node);
		const k8s = k8sEnv(containerOf(node));
		expect({ node, names: [...k8s.keys()].sort() }).toEqual({ node, names: Object.keys(compose).sort() });
		for (const [name, value] of Object.entries(compose)) {
			const deployed = k8s.get(name);
			if (isCredential(value)) expect({ node, name, secret: deployed?.from?.secretKeyRef !== undefined }).toEqual({ node, name, secret: true });
			else expect({ node, name, value: deployed?.value }).toEqual({ node, name, value: composeDefault(value) });
		}
	}
});

test("every container requests CPU and memory and has a memory limit above its request; a stop has the contract's 10 s", () => {
	for (const node of NODES) {
		const { resources } = containerOf(node);
		const mebibytes = (quantity: unknown) => Number(/^(\d+)Mi$/.exec(String(quantity))?.[1]);
		expect({ node, cpu: resources?.requests?.cpu !== undefined }).toEqual({ node, cpu: true });
		// above the ~90-100 MiB RSS the benchmarks measured per compiled cluster node
		expect(mebibytes(resources?.requests?.memory)).toBeGreaterThanOrEqual(100);
		expect(mebibytes(resources?.limits?.memory)).toBeGreaterThan(mebibytes(resources?.requests?.memory));

		const pod = deploymentOf(node).spec?.template.spec;
		const pause = containerOf(node).lifecycle?.preStop?.sleep?.seconds ?? 0;
		expect((pod?.terminationGracePeriodSeconds ?? 30) - pause).toBeGreaterThanOrEqual(10);
		expect(pod?.securityContext?.runAsNonRoot).toBe(true);
	}
});
