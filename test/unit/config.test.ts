/**
 * moleculer.config: the environment of CONTRACT.md's configuration table, validated into one
 * object (loadConfig) and turned into BrokerOptions (createBrokerOptions). Every test passes its
 * own env: nothing here depends on the shell the tests run in.
 */
import { ResilientAmqpTransporter } from "../../lib/infra/amqp-transporter";
import os from "node:os";
import Redis from "ioredis";
import { Transporters } from "moleculer";
import { createBrokerOptions, loadConfig, MEMORY_CACHE_MAX_KEYS } from "../../moleculer.config";
import { cacheKeygen } from "../../lib/infra/cache-keys";
import { ListPagesRedisCacher } from "../../lib/infra/redis-cacher";
import { HexIdZipkinExporter } from "../../lib/infra/zipkin-exporter";
import { configErrorOf } from "../helpers/config-error";

const AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";
/** An ADMIN_TOKEN of exactly the shortest length accepted. */
const ADMIN_TOKEN_32 = "0123456789abcdef0123456789abcdef";

describe("loadConfig defaults are the contract's table", () => {
	const config = loadConfig({});

	test("all three services", () => expect(config.services).toEqual(["api", "clients", "goals"]));
	test("no transporter: one process", () => expect(config.transporter).toBeNull());
	test("Memory cacher", () => expect(config.cacher).toBe("Memory"));
	test('namespace "" and nodeID host-pid', () => {
		expect(config.namespace).toBe("");
		expect(config.nodeID).toBe(`${os.hostname()}-${process.pid}`);
	});
	test("REST on 127.0.0.1:3000, no rate limit, no trusted proxy, no admin token, no fault injection", () =>
		expect(config.api).toMatchObject({ port: 3000, host: "127.0.0.1", rateLimit: 0, trustProxy: 0, adminTokens: [], redis: null, faultInjection: false }));
	test("no fault injection", () => {
		expect(config.clients.faults).toBeNull();
		expect(config.goals.faults).toBeNull();
	});
	test("SQLite files under ./data", () => {
		expect(config.clients.dbUri).toBe("sqlite:data/clients.sqlite");
		expect(config.goals.dbUri).toBe("sqlite:data/goals.sqlite");
	});
	test("log level info", () => expect(config.logLevel).toBe("info"));

	test("empty and blank values count as unset", () => {
		expect(loadConfig({ PORT: "", HOST: "  ", SERVICES: " ", TRANSPORTER: "", CACHER: " ", LOG_LEVEL: "" })).toEqual(config);
	});
});

describe("loadConfig reads each variable", () => {
	test("every documented variable lands where it belongs", () => {
		const config = loadConfig({
			SERVICES: "goals",
			TRANSPORTER: AMQP_URL,
			CACHER: "redis://127.0.0.1:6379",
			NAMESPACE: "staging",
			NODEID: "node-1",
			PORT: "8080",
			HOST: "0.0.0.0",
			CLIENTS_DB_URI: "sqlite::memory:",
			GOALS_DB_URI: "postgres://user:pw@db:5432/goals",
			RATE_LIMIT: "120",
			TRUST_PROXY: "2",
			ADMIN_TOKEN: ADMIN_TOKEN_32,
			LOG_LEVEL: "warn",
		});
		expect(config).toMatchObject({
			services: ["goals"],
			transporter: AMQP_URL,
			cacher: "redis://127.0.0.1:6379",
			namespace: "staging",
			nodeID: "node-1",
			api: { port: 8080, host: "0.0.0.0", rateLimit: 120, trustProxy: 2, adminTokens: [ADMIN_TOKEN_32] },
			clients: { dbUri: "sqlite::memory:" },
			goals: { dbUri: "postgres://user:pw@db:5432/goals" },
			logLevel: "warn",
		});
	});

	test.each([
		["api", ["api"]],
		["clients,goals", ["clients", "goals"]],
		[" api , clients ", ["api", "clients"]],
		["goals,,api", ["goals", "api"]],
		["goals,goals", ["goals"]],
	])("SERVICES=%p is %p", (raw, services) => {
		expect(loadConfig({ SERVICES: raw }).services).toEqual(services);
	});

	test.each(["debug", "DEBUG", "trace", "error", "fatal", "silent"])("LOG_LEVEL=%s is accepted", (raw) => {
		expect(loadConfig({ LOG_LEVEL: raw }).logLevel).toBe(raw.toLowerCase());
	});

	test.each([
		["", null],
		["off", null],
		["console", { exporter: "console" }],
		["ZIPKIN", { exporter: "zipkin", url: "http://127.0.0.1:9411" }],
	])("TRACING=%p is %p", (raw, tracing) => {
		expect(loadConfig({ TRACING: raw }).tracing).toEqual(tracing);
	});

	test("ZIPKIN_URL gives the collector (a trailing slash dropped); one that is not http(s) is refused", () => {
		expect(loadConfig({ TRACING: "zipkin", ZIPKIN_URL: "http://jaeger:9411/" }).tracing).toEqual({ exporter: "zipkin", url: "http://jaeger:9411" });
		expect(() => loadConfig({ TRACING: "zipkin", ZIPKIN_URL: "jaeger:9411" })).toThrow(/ZIPKIN_URL/);
	});

	test.each(["0", "1", "65535"])("PORT=%s is accepted", (raw) => {
		expect(loadConfig({ PORT: raw }).api.port).toBe(Number(raw));
	});

	test.each(["redis://127.0.0.1:6379", "rediss://user:secret@cache.example:6380/2", "Memory"])("CACHER=%s is accepted", (raw) => {
		expect(loadConfig({ CACHER: raw }).cacher).toBe(raw);
	});

	test("TRANSPORTER accepts amqps:// too", () => {
		expect(loadConfig({ TRANSPORTER: "amqps://rabbit.example" }).transporter).toBe("amqps://rabbit.example");
	});
});

describe("invalid values throw a ConfigError naming the variable", () => {
	test.each([
		["SERVICES", "billing"],
		["SERVICES", "api,billing"],
		["SERVICES", ","],
		["SERVICES", "API"],
		["PORT", "abc"],
		["PORT", "-1"],
		["PORT", "65536"],
		["PORT", "3000.5"],
		["RATE_LIMIT", "-5"],
		["RATE_LIMIT", "lots"],
		["TRUST_PROXY", "-1"],
		["TRUST_PROXY", "11"],
		["TRUST_PROXY", "yes"],
		["FAULT_INJECTION", "yes"],
		["FAULT_INJECTION", "on"],
		["FAULT_INJECTION", "apply:1:1"],
		["FAULT_RULES", "apply:1:1"],
		["LOG_LEVEL", "verbose"],
		["LOG_LEVEL", "1"],
		["TRACING", "jaeger"],
		["TRACING", "1"],
		["CACHER", "memcached://127.0.0.1:11211"],
		["CACHER", "Redis"],
		["CACHER", "redis://"],
		["CACHER", "redis://127.0.0.1:notaport"],
		["CACHER", "redis://127.0.0.1:6379/not-a-db"],
		["TRANSPORTER", "nats://127.0.0.1:4222"],
		["TRANSPORTER", "TCP"],
		["TRANSPORTER", "127.0.0.1:5672"],
		["EVENT_STREAM", "yes"],
		["EVENT_STREAM_PREFIX", "a b"],
		["EVENT_STREAM_PREFIX", "x".repeat(101)],
		["EVENT_STREAM_URL", "nats://127.0.0.1:4222"],
		["DB_POOL_MAX", "0"],
		["DB_POOL_MAX", "ten"],
		["DEAD_LETTER_RETENTION_DAYS", "-1"],
		["DEAD_LETTER_RETENTION_DAYS", "2.5"],
		["DEAD_LETTER_RETENTION_DAYS", "3651"],
		["CONSUMER_PAUSE_AFTER", "-1"],
		["CONSUMER_PAUSE_AFTER", "twenty"],
		["CONSUMER_PAUSE_MS", "99"],
		["CONSUMER_PAUSE_MS", "1m"],
	])("%s=%p", (variable, raw) => {
		const err = configErrorOf({ [variable]: raw });
		expect(err.message).toContain(variable);
		expect(err.message).toContain(raw.trim() || variable);
		expect(err.data).toEqual({ variable });
		expect(err.name).toBe("ConfigError");
	});

	test("the first bad variable is named even when others are fine", () => {
		expect(configErrorOf({ SERVICES: "goals", PORT: "x", HOST: "0.0.0.0" }).data).toEqual({ variable: "PORT" });
	});
});

describe("operating the consumers (DEAD_LETTER_RETENTION_DAYS, CONSUMER_PAUSE_AFTER, CONSUMER_PAUSE_MS)", () => {
	test("given nothing, when loaded, then the contract's defaults for both consumers: 14 days, 20 failures, 60 s", () => {
		const config = loadConfig({});
		for (const service of [config.clients, config.goals]) {
			expect(service.deadLetterRetentionDays).toBe(14);
			expect(service.pausePolicy).toEqual({ after: 20, ms: 60_000 });
		}
	});

	test("given values, then both consumers get them; 0 days purges at once and 0 failures never pauses", () => {
		const config = loadConfig({ DEAD_LETTER_RETENTION_DAYS: "0", CONSUMER_PAUSE_AFTER: "0", CONSUMER_PAUSE_MS: "1500" });
		for (const service of [config.clients, config.goals]) {
			expect(service.deadLetterRetentionDays).toBe(0);
			expect(service.pausePolicy).toEqual({ after: 0, ms: 1500 });
		}
	});
});

describe("PostgreSQL connections per replica (DB_POOL_MAX)", () => {
	test("given nothing, when loaded, then each service's pool holds at most 10; given 4, then 4", () => {
		expect([loadConfig({}).clients.dbPoolMax, loadConfig({}).goals.dbPoolMax]).toEqual([10, 10]);
		const four = loadConfig({ DB_POOL_MAX: "4" });
		expect([four.clients.dbPoolMax, four.goals.dbPoolMax]).toEqual([4, 4]);
	});
});

describe("the AMQP stream's relay (EVENT_STREAM, EVENT_STREAM_PREFIX, EVENT_STREAM_URL)", () => {
	const amqp = "amqp://guest:guest@127.0.0.1:5672";

	test("without a transporter there is no relay; with one, it publishes there under the contract's names", () => {
		expect(loadConfig({}).clients.eventStream).toBeNull();
		expect(loadConfig({ TRANSPORTER: amqp }).clients.eventStream).toEqual({ url: amqp, prefix: "", queueType: "classic" });
		expect(loadConfig({ TRANSPORTER: amqp }).goals.eventStream).toEqual({ url: amqp, prefix: "", queueType: "classic" });
	});

	test("EVENT_STREAM=off switches it off; a prefix and another broker are taken as given", () => {
		expect(loadConfig({ TRANSPORTER: amqp, EVENT_STREAM: "off" }).clients.eventStream).toBeNull();
		expect(loadConfig({ TRANSPORTER: amqp, EVENT_STREAM: "ON", EVENT_STREAM_PREFIX: "t-1." }).clients.eventStream).toEqual({
			url: amqp,
			prefix: "t-1.",
			queueType: "classic",
		});
		expect(loadConfig({ TRANSPORTER: amqp, EVENT_STREAM_URL: "amqp://other:5672" }).goals.eventStream).toEqual({
			url: "amqp://other:5672",
			prefix: "",
			queueType: "classic",
		});
	});

	test("its queues take AMQP_QUEUE_TYPE; EVENT_STREAM_URL may list several nodes of one cluster", () => {
		expect(loadConfig({ TRANSPORTER: amqp, AMQP_QUEUE_TYPE: "quorum" }).clients.eventStream).toEqual({ url: amqp, prefix: "", queueType: "quorum" });
		expect(loadConfig({ EVENT_STREAM_URL: " amqp://a:5672 ; amqp://b:5673 " }).goals.eventStream).toEqual({
			url: "amqp://a:5672;amqp://b:5673",
			prefix: "",
			queueType: "classic",
		});
	});
});

describe("several RabbitMQ nodes (TRANSPORTER with ';') and the queue type (AMQP_QUEUE_TYPE)", () => {
	const THREE = "amqp://u:p@10.0.0.1:5672;amqp://u:p@10.0.0.2:5672;amqps://u:p@rabbit-3.example";

	test("given three URLs separated by ';', then all three are kept in order, trimmed (a trailing ';' dropped)", () => {
		expect(loadConfig({ TRANSPORTER: THREE }).transporter).toBe(THREE);
		expect(loadConfig({ TRANSPORTER: ` ${THREE.split(";").join(" ; ")} ; ` }).transporter).toBe(THREE);
	});

	test("given them, then the broker's transporter tries them in turn (Moleculer's url list)", () => {
		const transporter = createBrokerOptions(loadConfig({ TRANSPORTER: THREE })).transporter as ResilientAmqpTransporter;
		expect((transporter as unknown as { opts: { url: string[] } }).opts.url).toEqual(THREE.split(";"));
	});

	test.each([
		["amqp://a:5672;nats://b:4222", "nats://b:4222"],
		["amqp://a:5672;;b:5672", "b:5672"],
		[";", ";"],
		["amqp://", "amqp://"],
	])("given TRANSPORTER=%p, then a ConfigError naming TRANSPORTER and the bad part %p", (raw, bad) => {
		const err = configErrorOf({ TRANSPORTER: raw });
		expect(err.data).toEqual({ variable: "TRANSPORTER" });
		expect(err.message).toContain(`'${bad}'`);
	});

	test("given a bad part among URLs with passwords, then the message shows no password", () => {
		const err = configErrorOf({ TRANSPORTER: "amqp://u:first-secret@a:5672;nats://u:second-secret@b:4222" });
		expect(err.message).toContain("nats://u:***@b:4222");
		expect(err.message).not.toMatch(/first-secret|second-secret/);
	});

	test("given a bad EVENT_STREAM_URL part, then a ConfigError naming EVENT_STREAM_URL", () => {
		expect(configErrorOf({ EVENT_STREAM_URL: "amqp://a;redis://b" }).data).toEqual({ variable: "EVENT_STREAM_URL" });
	});

	test.each([
		[undefined, "classic"],
		["", "classic"],
		["classic", "classic"],
		["quorum", "quorum"],
		[" Quorum ", "quorum"],
	])("given AMQP_QUEUE_TYPE=%p, then %p", (raw, type) => {
		expect(loadConfig(raw === undefined ? {} : { AMQP_QUEUE_TYPE: raw }).amqpQueueType).toBe(type);
	});

	test.each(["stream", "mirrored", "quorum,classic", "1"])("given AMQP_QUEUE_TYPE=%p, then a ConfigError naming it", (raw) => {
		const err = configErrorOf({ AMQP_QUEUE_TYPE: raw });
		expect(err.data).toEqual({ variable: "AMQP_QUEUE_TYPE" });
		expect(err.message).toContain(raw);
		expect(err.message).toContain("classic, quorum");
	});

	test("given quorum, then the transporter declares its shared queues as quorum queues", () => {
		const transporter = createBrokerOptions(loadConfig({ TRANSPORTER: AMQP_URL, AMQP_QUEUE_TYPE: "quorum" })).transporter as ResilientAmqpTransporter;
		expect(transporter._getQueueOptions("REQ", true)).toEqual({ durable: true, arguments: { "x-queue-type": "quorum" } });
		expect(transporter._getQueueOptions("REQ")).toEqual({ durable: false });
	});
});

describe("ADMIN_TOKEN: at least 32 characters, or unset", () => {
	test("32 characters are accepted, and kept as given (trimmed)", () => {
		expect(loadConfig({ ADMIN_TOKEN: ADMIN_TOKEN_32 }).api.adminTokens).toEqual([ADMIN_TOKEN_32]);
		expect(loadConfig({ ADMIN_TOKEN: ` ${ADMIN_TOKEN_32}x ` }).api.adminTokens).toEqual([`${ADMIN_TOKEN_32}x`]);
	});

	test.each(["a1b2", "t0ken-admin-5ecret", ADMIN_TOKEN_32.slice(1), ` ${ADMIN_TOKEN_32.slice(1)} `])(
		"%p is refused at start with a ConfigError naming ADMIN_TOKEN, never the token",
		(token) => {
			const err = configErrorOf({ ADMIN_TOKEN: token });
			expect(err.data).toEqual({ variable: "ADMIN_TOKEN" });
			expect(err.message).toContain("ADMIN_TOKEN");
			expect(err.message).toContain("at least 32 characters");
			expect(err.message).not.toContain(token.trim());
		},
	);

	test.each(["", "   "])("%p is unset: no admin access at all", (token) => {
		expect(loadConfig({ ADMIN_TOKEN: token }).api.adminTokens).toEqual([]);
	});

	test("a comma list rotates: every token of it, in its order (blank entries and repeats dropped)", () => {
		const next = `${ADMIN_TOKEN_32}-next`;
		expect(loadConfig({ ADMIN_TOKEN: `${ADMIN_TOKEN_32},${next}` }).api.adminTokens).toEqual([ADMIN_TOKEN_32, next]);
		expect(loadConfig({ ADMIN_TOKEN: ` ${next} ,, ${ADMIN_TOKEN_32} , ${next}` }).api.adminTokens).toEqual([next, ADMIN_TOKEN_32]);
	});

	test("a short token in a list is refused, naming its place in the list, never the token", () => {
		const err = configErrorOf({ ADMIN_TOKEN: `${ADMIN_TOKEN_32},t0ken-admin-5ecret` });
		expect(err.data).toEqual({ variable: "ADMIN_TOKEN" });
		expect(err.message).toContain("entry 2 of 2 must be at least 32 characters");
		expect(err.message).not.toContain("t0ken-admin-5ecret");
		expect(err.message).not.toContain(ADMIN_TOKEN_32);
	});
});

describe("TRANSPORTER_SECRET: at least 32 characters, or unset (then a node with a transporter warns at start)", () => {
	const SECRET = "a-transporter-secret-32-chars-xy";

	test("unset or blank: no secret", () => {
		expect(loadConfig({}).transporterSecrets).toEqual([]);
		expect(loadConfig({ TRANSPORTER_SECRET: "  " }).transporterSecrets).toEqual([]);
	});

	test("32 characters are accepted (trimmed), and the broker gets the transit middleware", () => {
		const config = loadConfig({ TRANSPORTER: AMQP_URL, TRANSPORTER_SECRET: ` ${SECRET} ` });
		expect(config.transporterSecrets).toEqual([SECRET]);
		const middlewares = createBrokerOptions(config).middlewares as Array<{ name?: string; transporterReceive?: unknown }>;
		expect(middlewares).toEqual(expect.arrayContaining([expect.objectContaining({ name: "TransitAuth", transporterReceive: expect.any(Function) })]));
		// the secret is in no broker option (`$node.options` would show it)
		expect(JSON.stringify(createBrokerOptions(config), (_key, value: unknown) => (typeof value === "function" ? undefined : value))).not.toContain(SECRET);
	});

	test("a comma list rotates: the first seals, any opens; blank entries and repeats dropped, none of them in a broker option", () => {
		const next = `${SECRET}-next`;
		const config = loadConfig({ TRANSPORTER: AMQP_URL, TRANSPORTER_SECRET: ` ${next} , ${SECRET} ,, ${next} ` });
		expect(config.transporterSecrets).toEqual([next, SECRET]);
		const options = JSON.stringify(createBrokerOptions(config), (_key, value: unknown) => (typeof value === "function" ? undefined : value));
		expect(options).not.toContain(SECRET);
	});

	test("a short secret in a list is refused, naming its place in the list", () => {
		const err = configErrorOf({ TRANSPORTER_SECRET: `${SECRET},secret` });
		expect(err.data).toEqual({ variable: "TRANSPORTER_SECRET" });
		expect(err.message).toContain("entry 2 of 2 must be at least 32 characters");
		expect(err.message).not.toContain(SECRET);
	});

	test.each(["secret", SECRET.slice(1)])("%p is refused at start with a ConfigError naming TRANSPORTER_SECRET, never the secret", (secret) => {
		const err = configErrorOf({ TRANSPORTER_SECRET: secret });
		expect(err.data).toEqual({ variable: "TRANSPORTER_SECRET" });
		expect(err.message).toContain("at least 32 characters");
		expect(err.message).not.toContain(secret);
	});
});

describe("RETRY_JITTER: each retry delay within ±25 % of its schedule, unless 0", () => {
	test.each(["", " ", "1", "true", "TRUE"])("RETRY_JITTER=%p: both consumers jitter by 0.25, on the contract's schedule", (raw) => {
		const config = loadConfig({ RETRY_JITTER: raw });
		for (const service of [config.clients, config.goals]) {
			expect(service.retryPolicy).toEqual({ attempts: 3, firstDelayMs: 1000, factor: 2, maxDelayMs: 10_000, jitter: 0.25, spanMs: 10_000 });
		}
	});

	test.each(["0", "false", " 0 "])("RETRY_JITTER=%p: no jitter, the same schedule", (raw) => {
		const config = loadConfig({ RETRY_JITTER: raw });
		expect(config.clients.retryPolicy).toEqual({ attempts: 3, firstDelayMs: 1000, factor: 2, maxDelayMs: 10_000, jitter: 0, spanMs: 10_000 });
		expect(config.goals.retryPolicy.jitter).toBe(0);
	});

	test.each(["off", "0.1", "yes", "25"])("RETRY_JITTER=%p is refused with a ConfigError naming it", (raw) => {
		expect(configErrorOf({ RETRY_JITTER: raw }).data).toEqual({ variable: "RETRY_JITTER" });
	});
});

describe("FAULT_INJECTION: only an explicit 1 or true, never in production", () => {
	test.each(["1", "true", "TRUE", " 1 "])("FAULT_INJECTION=%p enables it, with no rule unless FAULT_RULES has some", (raw) => {
		const config = loadConfig({ FAULT_INJECTION: raw });
		expect(config.goals.faults).toEqual({ apply: null, crashAfterCommit: 0 });
		expect(config.clients.faults).toEqual({ apply: null, crashAfterCommit: 0 });
		expect(config.api.faultInjection).toBe(true);
	});

	test.each(["", " ", "0", "false"])("FAULT_INJECTION=%p is off (merely setting the variable no longer enables it)", (raw) => {
		const config = loadConfig({ FAULT_INJECTION: raw });
		expect(config.goals.faults).toBeNull();
		expect(config.api.faultInjection).toBe(false);
	});

	test("FAULT_RULES gives the starting rules, which each service gets", () => {
		const config = loadConfig({ FAULT_INJECTION: "1", FAULT_RULES: "apply:3,4:2;crash-after-commit:1" });
		const rules = { apply: { entities: [3, 4], times: 2 }, crashAfterCommit: 1 };
		expect(config.goals.faults).toEqual(rules);
		expect(config.clients.faults).toEqual(rules);
	});

	test("a bad rule is a ConfigError naming FAULT_RULES", () => {
		expect(configErrorOf({ FAULT_INJECTION: "1", FAULT_RULES: "apply:x:1" }).data).toEqual({ variable: "FAULT_RULES" });
	});

	test.each(["production", "Production", " production "])("refused with NODE_ENV=%p", (nodeEnv) => {
		const err = configErrorOf({ FAULT_INJECTION: "1", NODE_ENV: nodeEnv });
		expect(err.data).toEqual({ variable: "FAULT_INJECTION" });
		expect(err.message).toContain("NODE_ENV=production");
		// off in production is fine
		expect(loadConfig({ FAULT_INJECTION: "0", NODE_ENV: nodeEnv }).goals.faults).toBeNull();
	});

	test.each(["development", "test"])("allowed with NODE_ENV=%p", (nodeEnv) => {
		expect(loadConfig({ FAULT_INJECTION: "1", NODE_ENV: nodeEnv }).goals.faults).not.toBeNull();
	});
});

describe("rate-limit counters", () => {
	test("in this process with the Memory cacher", () => {
		expect(loadConfig({ RATE_LIMIT: "10" }).api.redis).toBeNull();
	});

	test("in Redis with a Redis cacher: the cacher's own connection options, and keys per namespace outside the cache's prefix", () => {
		const url = "rediss://user:p%40ss@cache.example:6380/2";
		const config = loadConfig({ RATE_LIMIT: "10", CACHER: url, NAMESPACE: "staging" });
		const cacher = createBrokerOptions(config).cacher as ListPagesRedisCacher;
		expect(config.api.redis).toEqual({ connection: cacher.opts.redis, keyPrefix: "cg-ratelimit:staging:" });
		expect(config.api.redis?.keyPrefix.startsWith(cacher.opts.prefix as string)).toBe(false);
	});
});

describe("createBrokerOptions", () => {
	describe("without a transporter (npm start)", () => {
		const options = createBrokerOptions(loadConfig({}));

		test("one process: no transporter, balancer on so local event handlers are called", () => {
			expect(options.transporter).toBeNull();
			expect(options.disableBalancer).toBe(false);
		});

		test("Memory cacher (LRU, at most MEMORY_CACHE_MAX_KEYS entries) with our keygen", () => {
			expect(options.cacher).toMatchObject({ type: "MemoryLRU", options: { keygen: cacheKeygen, max: MEMORY_CACHE_MAX_KEYS } });
		});

		test("namespace, node id and logger come from the config", () => {
			const custom = createBrokerOptions(loadConfig({ NAMESPACE: "ns", NODEID: "n1", LOG_LEVEL: "debug" }));
			expect(custom.namespace).toBe("ns");
			expect(custom.nodeID).toBe("n1");
			expect(custom.logger).toMatchObject({ type: "Console", options: { level: "debug" } });
			expect(createBrokerOptions(loadConfig({ LOG_LEVEL: "silent" })).logger).toBe(false);
		});

		test("tracing is off unless TRACING says where spans go; with zipkin, events are traced too and ids are made hex", () => {
			expect(options.tracing).toEqual({ enabled: false });
			const traced = createBrokerOptions(loadConfig({ TRACING: "zipkin", ZIPKIN_URL: "http://jaeger:9411" })).tracing as {
				enabled: boolean;
				events: boolean;
				exporter: unknown[];
			};
			expect(traced).toMatchObject({ enabled: true, events: true });
			expect(traced.exporter[0]).toBeInstanceOf(HexIdZipkinExporter);
		});

		test("Moleculer does not install its own signal handlers (bin/start.ts does)", () => {
			expect(options.skipProcessEventRegistration).toBe(true);
		});
	});

	describe("with TRANSPORTER=amqp://…", () => {
		const options = createBrokerOptions(loadConfig({ TRANSPORTER: AMQP_URL }));
		const transporter = options.transporter as ResilientAmqpTransporter;
		const opts = (transporter as unknown as { opts: Record<string, unknown> }).opts;

		test("AMQP (ours: reconnects when a channel dies alone) with durable, persistent, 24 h event queues", () => {
			expect(transporter).toBeInstanceOf(ResilientAmqpTransporter);
			expect(transporter).toBeInstanceOf(Transporters.AMQP);
			expect(opts.autoDeleteQueues).toBe(-1); // Moleculer's "never delete"
			expect(opts.eventTimeToLive).toBe(86_400_000);
			expect(opts.messageOptions).toEqual({ persistent: true });
			expect(opts.url).toEqual([AMQP_URL]);
		});

		test("balancing is left to the broker's queues", () => {
			expect(options.disableBalancer).toBe(true);
		});

		test("the cacher stays Memory unless CACHER says otherwise", () => {
			expect(options.cacher).toMatchObject({ type: "MemoryLRU" });
		});
	});

	describe("with CACHER=redis://…", () => {
		const redisOptionsOf = (env: Record<string, string>) => {
			const cacher = createBrokerOptions(loadConfig(env)).cacher;
			expect(cacher).toBeInstanceOf(ListPagesRedisCacher);
			return (cacher as ListPagesRedisCacher).opts as Record<string, unknown>;
		};

		test("Moleculer's Redis cacher (list pages in a hash of their own) with our keygen, and a key prefix per namespace", () => {
			expect(redisOptionsOf({ CACHER: "redis://127.0.0.1:6379" })).toMatchObject({ keygen: cacheKeygen, prefix: "MOL" });
			expect(redisOptionsOf({ CACHER: "redis://127.0.0.1:6379", NAMESPACE: "ns" })).toMatchObject({ prefix: "MOL-ns" });
		});

		test("host and port, with 6379 by default", () => {
			expect(redisOptionsOf({ CACHER: "redis://cache.example" }).redis).toMatchObject({ host: "cache.example", port: 6379, db: 0 });
		});

		test("user, password, db number and TLS are kept", () => {
			expect(redisOptionsOf({ CACHER: "rediss://user:p%40ss@cache.example:6380/2" }).redis).toMatchObject({
				host: "cache.example",
				port: 6380,
				db: 2,
				username: "user",
				password: "p@ss",
				tls: {},
			});
		});

		test("an outage fails commands at once instead of queueing them (reads then go uncached)", () => {
			expect(redisOptionsOf({ CACHER: "redis://cache.example" }).redis).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
		});

		test("what ioredis makes of them is what ioredis makes of the URL itself (no connection)", () => {
			for (const url of ["redis://127.0.0.1:6379", "rediss://user:secret@cache.example:6380/2", "redis://:secret@[::1]:6390/5"]) {
				const fromOptions = new Redis({ ...(redisOptionsOf({ CACHER: url }).redis as object), lazyConnect: true });
				const fromUrl = new Redis(url, { lazyConnect: true });
				try {
					for (const key of ["host", "port", "db", "username", "password"] as const) {
						expect([url, key, fromOptions.options[key] || undefined]).toEqual([url, key, fromUrl.options[key] || undefined]);
					}
					expect([url, Boolean(fromOptions.options.tls)]).toEqual([url, Boolean(fromUrl.options.tls)]);
				} finally {
					fromOptions.disconnect();
					fromUrl.disconnect();
				}
			}
		});
	});
});
