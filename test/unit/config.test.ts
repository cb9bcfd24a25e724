/**
 * moleculer.config: the environment of CONTRACT.md's configuration table, validated into one
 * object (loadConfig) and turned into BrokerOptions (createBrokerOptions). Every test passes its
 * own env: nothing here depends on the shell the tests run in.
 */
import { ResilientAmqpTransporter } from "../../lib/infra/amqp-transporter";
import os from "node:os";
import Redis from "ioredis";
import { Transporters } from "moleculer";
import { createBrokerOptions, loadConfig } from "../../moleculer.config";
import { cacheKeygen } from "../../lib/infra/cache-keys";
import { ConfigError } from "../../lib/errors";

const AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";

/** The ConfigError loadConfig throws for `env` (fails the test if it throws nothing or something else). */
function configErrorOf(env: Record<string, string>): ConfigError {
	try {
		loadConfig(env);
	} catch (err) {
		expect(err).toBeInstanceOf(ConfigError);
		return err as ConfigError;
	}
	throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

describe("loadConfig defaults are the contract's table", () => {
	const config = loadConfig({});

	test("all three services", () => expect(config.services).toEqual(["api", "clients", "goals"]));
	test("no transporter: one process", () => expect(config.transporter).toBeNull());
	test("Memory cacher", () => expect(config.cacher).toBe("Memory"));
	test('namespace "" and nodeID host-pid', () => {
		expect(config.namespace).toBe("");
		expect(config.nodeID).toBe(`${os.hostname()}-${process.pid}`);
	});
	test("REST on 127.0.0.1:3000, no rate limit, no admin token", () =>
		expect(config.api).toEqual({ port: 3000, host: "127.0.0.1", rateLimit: 0, adminToken: null }));
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
			LOG_LEVEL: "warn",
		});
		expect(config).toMatchObject({
			services: ["goals"],
			transporter: AMQP_URL,
			cacher: "redis://127.0.0.1:6379",
			namespace: "staging",
			nodeID: "node-1",
			api: { port: 8080, host: "0.0.0.0", rateLimit: 120 },
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
		["LOG_LEVEL", "verbose"],
		["LOG_LEVEL", "1"],
		["CACHER", "memcached://127.0.0.1:11211"],
		["CACHER", "Redis"],
		["CACHER", "redis://"],
		["CACHER", "redis://127.0.0.1:notaport"],
		["CACHER", "redis://127.0.0.1:6379/not-a-db"],
		["TRANSPORTER", "nats://127.0.0.1:4222"],
		["TRANSPORTER", "TCP"],
		["TRANSPORTER", "127.0.0.1:5672"],
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

describe("createBrokerOptions", () => {
	describe("without a transporter (npm start)", () => {
		const options = createBrokerOptions(loadConfig({}));

		test("one process: no transporter, balancer on so local event handlers are called", () => {
			expect(options.transporter).toBeNull();
			expect(options.disableBalancer).toBe(false);
		});

		test("Memory cacher with our keygen", () => {
			expect(options.cacher).toMatchObject({ type: "Memory", options: { keygen: cacheKeygen } });
		});

		test("namespace, node id and logger come from the config", () => {
			const custom = createBrokerOptions(loadConfig({ NAMESPACE: "ns", NODEID: "n1", LOG_LEVEL: "debug" }));
			expect(custom.namespace).toBe("ns");
			expect(custom.nodeID).toBe("n1");
			expect(custom.logger).toMatchObject({ type: "Console", options: { level: "debug" } });
			expect(createBrokerOptions(loadConfig({ LOG_LEVEL: "silent" })).logger).toBe(false);
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
			expect(options.cacher).toMatchObject({ type: "Memory" });
		});
	});

	describe("with CACHER=redis://…", () => {
		const redisOptionsOf = (env: Record<string, string>) => {
			const cacher = createBrokerOptions(loadConfig(env)).cacher as { type: string; options: Record<string, unknown> };
			expect(cacher.type).toBe("Redis");
			return cacher.options;
		};

		test("Redis with our keygen, and a key prefix per namespace", () => {
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
