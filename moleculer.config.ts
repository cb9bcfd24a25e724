/**
 * All configuration, read from the environment in one place (moleculer-runner's variable
 * names), validated into one typed object, and turned into Moleculer BrokerOptions.
 * Nothing else in the codebase reads `process.env`.
 */
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RedisOptions } from "ioredis";
import { type BrokerOptions, Errors, type LoggerConfig, type Tracer } from "moleculer";
import type { ApiOptions } from "./services/api.service";
import type { ClientsServiceOptions } from "./services/clients.service";
import type { GoalsServiceOptions } from "./services/goals.service";
import { cacheKeygen } from "./lib/infra/cache-keys";
import { SERVICE_NAMES, type ServiceName } from "./lib/constants";
import type { BreakerSettings } from "./lib/infra/circuit-breaker";
import { AppErrorRegenerator, ConfigError, countsAgainstBreaker } from "./lib/errors";
import { ResilientAmqpTransporter } from "./lib/infra/amqp-transporter";
import { ListPagesRedisCacher } from "./lib/infra/redis-cacher";
import { QUEUE_TYPES, type QueueType } from "./lib/infra/amqp-queues";
import { brokerUrls } from "./lib/infra/amqp-urls";
import { HexIdZipkinExporter } from "./lib/infra/zipkin-exporter";
import { internalMiddlewares } from "./lib/infra/request-metrics";
import { TRANSPORTER_SECRET_MIN_LENGTH, transitAuth } from "./lib/infra/transit-auth";
import { type FaultRules, parseFaultRules } from "./lib/infra/faults";
import { faultsReplCommand } from "./lib/infra/fault-commands";
import { ADMIN_TOKEN_MIN_LENGTH } from "./lib/http/admin-auth";
import { secretList } from "./lib/infra/secret-list";
import { replCommands } from "./lib/consumer/repl-commands";
import { DEAD_LETTER_RETENTION_DAYS_DEFAULT } from "./lib/consumer/dead-letter-retention";
import { PAUSE_POLICY, type PausePolicy } from "./lib/consumer/pause-rules";
import { PG_POOL_MAX_DEFAULT } from "./lib/storage/database";
import { RETRY_JITTER, RETRY_POLICY, type RetryPolicy } from "./lib/domain/retry-schedule";
import type { StreamTarget } from "./lib/relay/log-relay";

/** The program's version, from its package.json (shown in the OpenAPI document): beside this file, or one up when compiled into dist/. */
const PACKAGE_VERSION = ((): string => {
	for (const dir of [__dirname, path.dirname(__dirname)]) {
		const file = path.join(dir, "package.json");
		if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
	}
	return "unknown";
})();

/**
 * The gateway's static files (web/: the operations page), beside this file: the sources' web/,
 * or dist/web/, where `npm run build` copies it. `npm start` runs the sources bundled into one
 * file, dist/start-<hash>.js (bin/run-compiled.js), where __dirname is dist/ although the files
 * are the sources' web/ (a dist/web/ there is an earlier build's): that bundle has
 * BUNDLED_WEB_ROOT defined (esbuild's `define`), no other way of running the program has.
 */
declare const BUNDLED_WEB_ROOT: string | undefined;
const WEB_ROOT = typeof BUNDLED_WEB_ROOT === "string" ? BUNDLED_WEB_ROOT : path.join(__dirname, "web");

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

export interface AppConfig {
	/** which services this node runs */
	services: ServiceName[];
	namespace: string;
	nodeID: string;
	/** a transporter URL (amqp://…), several RabbitMQ nodes' separated by `;`, or null for a single process */
	transporter: string | null;
	/** the type of the durable queues that outlive a node: shared request and event queues, the AMQP stream's */
	amqpQueueType: QueueType;
	/**
	 * shared secrets that authenticate and encrypt every packet between nodes (lib/infra/transit-auth.ts):
	 * the first seals, any opens; none: packets in the clear
	 */
	transporterSecrets: string[];
	/** "Memory" or a redis:// URL */
	cacher: string;
	logLevel: LogLevel | "silent";
	/** port of the Prometheus metrics endpoint, or null for none */
	metricsPort: number | null;
	/** its bind address: METRICS_HOST, else HOST (Moleculer's reporter would take 0.0.0.0) */
	metricsHost: string;
	/** Moleculer's tracing: off (null), spans printed (console), or sent to a Zipkin v2 collector (Jaeger's Zipkin endpoint) */
	tracing: { exporter: "console" } | { exporter: "zipkin"; url: string } | null;
	/**
	 * AMQP prefetch: messages of one queue a node holds unacked at once, so how many requests of
	 * an action and events of a queue it handles concurrently (Moleculer's default, 1, serves
	 * them one after another)
	 */
	amqpPrefetch: number;
	/**
	 * file the node rewrites every few seconds once its broker has started, for the container's
	 * healthcheck (lib/infra/heartbeat.ts), or null for none
	 */
	heartbeatFile: string | null;
	api: ApiOptions;
	clients: ClientsServiceOptions;
	goals: GoalsServiceOptions;
}

type Env = Record<string, string | undefined>;

/** Entries the in-process cacher holds at most; the least recently used goes first. */
export const MEMORY_CACHE_MAX_KEYS = 10_000;

/**
 * One set of circuit breaker numbers, for Moleculer's breaker (createBrokerOptions) and for the
 * goal service's own breaker around its client check (lib/infra/circuit-breaker.ts says why it has one).
 */
const BREAKER: BreakerSettings = { threshold: 0.5, minRequestCount: 5, windowMs: 20_000, halfOpenMs: 5_000 };

function text(env: Env, name: string, fallback: string): string {
	const value = env[name]?.trim();
	return value ? value : fallback;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
	const raw = env[name]?.trim();
	if (!raw) return fallback;
	const value = Number(raw);
	if (!Number.isInteger(value) || value < min || value > max) {
		throw new ConfigError(name, `'${raw}' is not a whole number from ${min} to ${max}`);
	}
	return value;
}

function serviceList(env: Env): ServiceName[] {
	const raw = text(env, "SERVICES", SERVICE_NAMES.join(","));
	const names = raw
		.split(",")
		.map((name) => name.trim())
		.filter(Boolean);
	const unknown = names.filter((name) => !(SERVICE_NAMES as readonly string[]).includes(name));
	if (unknown.length > 0 || names.length === 0) {
		throw new ConfigError("SERVICES", `'${raw}' must be a comma list from ${SERVICE_NAMES.join(",")}`);
	}
	return [...new Set(names)] as ServiceName[];
}

function logLevel(env: Env): LogLevel | "silent" {
	const raw = text(env, "LOG_LEVEL", "info").toLowerCase();
	if (raw === "silent" || (LOG_LEVELS as readonly string[]).includes(raw)) return raw as LogLevel | "silent";
	throw new ConfigError("LOG_LEVEL", `'${raw}' must be one of ${LOG_LEVELS.join(", ")} or silent`);
}

function cacherUrl(env: Env): string {
	const raw = text(env, "CACHER", "Memory");
	if (raw === "Memory" || isRedisUrl(raw)) return raw;
	throw new ConfigError("CACHER", `'${raw}' must be Memory or a redis:// URL (optionally with user, password and /db)`);
}

/** redis[s]://[user:password@]host[:port][/db]; a malformed one is a ConfigError, not a crash later. */
function isRedisUrl(raw: string): boolean {
	if (!/^rediss?:\/\//.test(raw) || !URL.canParse(raw)) return false;
	const url = new URL(raw);
	return url.hostname !== "" && /^\/?\d*$/.test(url.pathname);
}

/**
 * ioredis connection options from every part of a redis:// URL: host and port alone would
 * silently drop the password, the db number and TLS (rediss://).
 */
function redisConnection(url: string): RedisOptions {
	const parsed = new URL(url);
	return {
		// An outage must degrade to uncached reads at once: fail commands instead of queueing
		// them until Redis is back (Moleculer's cacher then calls the handler directly).
		enableOfflineQueue: false,
		maxRetriesPerRequest: 1,
		connectTimeout: 2000,
		host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
		port: Number(parsed.port || 6379),
		db: Number(parsed.pathname.slice(1) || 0),
		...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
		...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
		...(parsed.protocol === "rediss:" ? { tls: {} } : {}),
	};
}

/**
 * An amqp:// URL, or several RabbitMQ nodes of one cluster separated by `;` (Moleculer's
 * convention: a node connects to the first and moves to the next on each reconnect). Given back
 * with its parts trimmed.
 */
function amqpUrls(variable: string, raw: string, unset: string): string {
	const urls = brokerUrls(raw);
	const bad = urls.find((url) => !/^amqps?:\/\/[^/?#]/.test(url) || !URL.canParse(url));
	if (urls.length === 0 || bad !== undefined) {
		throw new ConfigError(variable, `'${bad ?? raw}' must be an amqp:// URL, or several RabbitMQ nodes' URLs separated by ';' (${unset})`);
	}
	return urls.join(";");
}

function transporterUrl(env: Env): string | null {
	const raw = env.TRANSPORTER?.trim();
	if (!raw) return null;
	return amqpUrls("TRANSPORTER", raw, "or unset for a single process");
}

/** AMQP_QUEUE_TYPE: the type of every durable queue that outlives a node (lib/infra/amqp-queues.ts). */
function amqpQueueType(env: Env): QueueType {
	const raw = text(env, "AMQP_QUEUE_TYPE", "classic").toLowerCase();
	if ((QUEUE_TYPES as readonly string[]).includes(raw)) return raw as QueueType;
	throw new ConfigError("AMQP_QUEUE_TYPE", `'${env.AMQP_QUEUE_TYPE?.trim()}' must be one of ${QUEUE_TYPES.join(", ")} (unset: classic)`);
}

/**
 * ADMIN_TOKEN: blank is unset (every admin call 401); a comma list rotates (any of its tokens is
 * accepted: lib/infra/secret-list.ts); each must be long enough not to be guessed. The message
 * never repeats a token.
 */
function adminTokens(env: Env): string[] {
	return secretList("ADMIN_TOKEN", env.ADMIN_TOKEN, ADMIN_TOKEN_MIN_LENGTH);
}

const ON = ["1", "true"];
const OFF = ["", "0", "false"];

/**
 * Fault injection (tests only; lib/infra/faults.ts): on only with FAULT_INJECTION=1 or true,
 * never with NODE_ENV=production. Its starting rules are FAULT_RULES; without them it starts
 * with none, and rules are set from the node's own REPL (`faults …`) or a test in its process.
 */
function faultRules(env: Env): FaultRules | null {
	const raw = env.FAULT_INJECTION?.trim().toLowerCase() ?? "";
	const rules = env.FAULT_RULES?.trim() ?? "";
	if (!ON.includes(raw)) {
		if (!OFF.includes(raw)) {
			throw new ConfigError(
				"FAULT_INJECTION",
				`'${env.FAULT_INJECTION?.trim()}' must be 1 or true to enable it (0, false or unset: off); rules go in FAULT_RULES`,
			);
		}
		if (rules) throw new ConfigError("FAULT_RULES", `'${rules}' is set but FAULT_INJECTION is not 1 or true`);
		return null;
	}
	if (env.NODE_ENV?.trim().toLowerCase() === "production") {
		throw new ConfigError("FAULT_INJECTION", "is refused with NODE_ENV=production: it makes the node fail on purpose");
	}
	return parseFaultRules(rules, "FAULT_RULES");
}

/**
 * CORS_ORIGINS: comma list of origins allowed to call the API from a browser, each kept as a
 * browser writes it in `Origin` (`https://app.example.com`, `http://localhost:5173`). No `*`
 * and no paths: an origin is a scheme, a host and a port, and every allowed one is named.
 */
function corsOrigins(env: Env): string[] {
	const raw = env.CORS_ORIGINS?.trim();
	if (!raw) return [];
	const origins = raw
		.split(",")
		.map((entry) => entry.trim())
		.filter(Boolean)
		.map((entry) => {
			const url = URL.canParse(entry) ? new URL(entry) : null;
			if (!url || !["http:", "https:"].includes(url.protocol) || url.username || url.password || url.pathname !== "/" || url.search || url.hash) {
				throw new ConfigError("CORS_ORIGINS", `'${entry}' is not an origin such as https://app.example.com (scheme://host[:port], no path, no *)`);
			}
			return url.origin;
		});
	return [...new Set(origins)];
}

/**
 * The AMQP stream for programs outside Moleculer (lib/relay/): with an amqp TRANSPORTER each
 * producer relays its event log to it, on the same broker unless EVENT_STREAM_URL names another.
 * EVENT_STREAM=off switches the relay off; EVENT_STREAM_PREFIX puts a prefix before every
 * exchange and queue name (tests sharing one RabbitMQ; default: the contract's names).
 */
function eventStream(env: Env, transporter: string | null, queueType: QueueType): StreamTarget | null {
	const raw = env.EVENT_STREAM?.trim().toLowerCase() ?? "";
	if (!["", "on", "off"].includes(raw)) throw new ConfigError("EVENT_STREAM", `'${env.EVENT_STREAM?.trim()}' must be on or off (unset: on)`);
	const prefix = env.EVENT_STREAM_PREFIX?.trim() ?? "";
	if (!/^[A-Za-z0-9._-]{0,100}$/.test(prefix)) {
		throw new ConfigError("EVENT_STREAM_PREFIX", `'${prefix}' may hold at most 100 letters, digits, '.', '_' or '-'`);
	}
	const own = env.EVENT_STREAM_URL?.trim();
	const url = own ? amqpUrls("EVENT_STREAM_URL", own, "unset: the TRANSPORTER's") : transporter;
	if (raw === "off" || !url) return null;
	return { url, prefix, queueType };
}

/**
 * TRANSPORTER_SECRET: blank is unset (a node with a transporter warns at start); a comma list
 * rotates (the first seals, any opens: lib/infra/secret-list.ts); each secret must be long enough
 * not to be guessed from a captured packet. The message never repeats one.
 */
function transporterSecrets(env: Env): string[] {
	return secretList("TRANSPORTER_SECRET", env.TRANSPORTER_SECRET, TRANSPORTER_SECRET_MIN_LENGTH);
}

/**
 * RETRY_JITTER: each retry delay drawn within ±25 % of the scheduled one (lib/domain/retry-schedule.ts),
 * unless 0 (or false, off): then every event is retried exactly on the schedule.
 */
function retryJitter(env: Env): number {
	const raw = env.RETRY_JITTER?.trim().toLowerCase() ?? "";
	if (raw === "" || ON.includes(raw)) return RETRY_JITTER;
	if (OFF.includes(raw)) return 0;
	throw new ConfigError("RETRY_JITTER", `'${env.RETRY_JITTER?.trim()}' must be 0 or false to turn the ±25 % jitter off, 1 or true for on (unset: on)`);
}

/** Read and validate the configuration. Throws ConfigError naming the variable at fault. */
export function loadConfig(env: Env = process.env): AppConfig {
	const catchUpIntervalMs = integer(env, "CATCHUP_INTERVAL", 10_000, 100, 3_600_000);
	// PostgreSQL connections per replica (one pool: reads, writes): replicas × this < max_connections
	const dbPoolMax = integer(env, "DB_POOL_MAX", PG_POOL_MAX_DEFAULT, 1, 100);
	const faults = faultRules(env);
	const cacher = cacherUrl(env);
	const namespace = text(env, "NAMESPACE", "");
	const transporter = transporterUrl(env);
	const queueType = amqpQueueType(env);
	const stream = eventStream(env, transporter, queueType);
	const retryPolicy: RetryPolicy = { ...RETRY_POLICY, jitter: retryJitter(env) };
	// operating the consumers (CONTRACT.md): how long settled dead letters are kept, when a consumer pauses itself
	const deadLetterRetentionDays = integer(env, "DEAD_LETTER_RETENTION_DAYS", DEAD_LETTER_RETENTION_DAYS_DEFAULT, 0, 3650);
	const pausePolicy: PausePolicy = {
		after: integer(env, "CONSUMER_PAUSE_AFTER", PAUSE_POLICY.after, 0, 1_000_000),
		ms: integer(env, "CONSUMER_PAUSE_MS", PAUSE_POLICY.ms, 100, 86_400_000),
	};
	// what the clients and goals services are both given (each its own database besides)
	const serviceSettings = { dbPoolMax, catchUpIntervalMs, faults, eventStream: stream, retryPolicy, deadLetterRetentionDays, pausePolicy };
	return {
		services: serviceList(env),
		namespace,
		nodeID: text(env, "NODEID", `${os.hostname()}-${process.pid}`),
		transporter,
		amqpQueueType: queueType,
		transporterSecrets: transporterSecrets(env),
		cacher,
		logLevel: logLevel(env),
		metricsPort: env.METRICS_PORT?.trim() ? integer(env, "METRICS_PORT", 3030, 1, 65535) : null,
		metricsHost: text(env, "METRICS_HOST", text(env, "HOST", "127.0.0.1")),
		tracing: tracing(env),
		amqpPrefetch: integer(env, "AMQP_PREFETCH", 32, 1, 1000),
		heartbeatFile: env.HEARTBEAT_FILE?.trim() || null,
		api: {
			port: integer(env, "PORT", 3000, 0, 65535),
			host: text(env, "HOST", "127.0.0.1"),
			corsOrigins: corsOrigins(env),
			rateLimit: integer(env, "RATE_LIMIT", 0, 0, 1_000_000),
			trustProxy: integer(env, "TRUST_PROXY", 0, 0, 10),
			adminTokens: adminTokens(env),
			// with a Redis cacher the counters are shared by every api replica, in keys of their own
			// (outside the cacher's prefix, so that cleaning the cache never resets a limit)
			redis: cacher === "Memory" ? null : { connection: redisConnection(cacher), keyPrefix: `cg-ratelimit:${namespace}:` },
			faultInjection: faults !== null,
			version: PACKAGE_VERSION,
			webRoot: WEB_ROOT,
		},
		clients: { dbUri: text(env, "CLIENTS_DB_URI", "sqlite:data/clients.sqlite"), ...serviceSettings },
		goals: {
			dbUri: text(env, "GOALS_DB_URI", "sqlite:data/goals.sqlite"),
			...serviceSettings,
			clientCheckTimeoutMs: integer(env, "CLIENT_CHECK_TIMEOUT", 2000, 50, 60_000),
			clientCheckBreaker: BREAKER,
		},
	};
}

const TRACING_EXPORTERS = ["console", "zipkin"] as const;

function tracing(env: Env): AppConfig["tracing"] {
	const raw = text(env, "TRACING", "").toLowerCase();
	if (raw === "" || raw === "off") return null;
	if (raw === "console") return { exporter: "console" };
	if (raw !== "zipkin") throw new ConfigError("TRACING", `'${raw}' must be one of ${TRACING_EXPORTERS.join(", ")} or off`);
	const url = text(env, "ZIPKIN_URL", "http://127.0.0.1:9411");
	if (!/^https?:\/\/[^\s]+$/.test(url)) throw new ConfigError("ZIPKIN_URL", `'${url}' must be an http(s):// URL (e.g. http://jaeger:9411)`);
	return { exporter: "zipkin", url: url.replace(/\/+$/, "") };
}

/** Spans are sent in batches this often (Moleculer's Zipkin exporter; its default is 5 s). */
const ZIPKIN_FLUSH_SECONDS = 1;

function tracer(config: AppConfig): BrokerOptions["tracing"] {
	if (!config.tracing) return { enabled: false };
	// Moleculer takes an exporter instance too (src/tracing/exporters/index.js); its typings list the options objects only
	const exporter: Tracer.TracingExporter =
		config.tracing.exporter === "console"
			? { type: "Console" }
			: (new HexIdZipkinExporter({ baseURL: config.tracing.url, interval: ZIPKIN_FLUSH_SECONDS }) as unknown as Tracer.TracingExporter);
	// event handlers too (Moleculer traces actions only by default): the trace crosses the message hop
	return { enabled: true, events: true, exporter: [exporter] };
}

function logger(config: AppConfig): LoggerConfig | false {
	if (config.logLevel === "silent") return false;
	return { type: "Console", options: { level: config.logLevel, formatter: "short", moduleColors: false } };
}

/**
 * Only a request that never reached a handler is retried: retrying a timed-out write could
 * apply it twice.
 */
function notDelivered(err: Error): boolean {
	return err instanceof Errors.ServiceNotAvailableError;
}

/**
 * TCP_NODELAY on the AMQP socket. amqplib leaves Nagle's algorithm on, so a handler that publishes
 * its event and then its response writes twice in a row and the response waits for the broker's
 * delayed ACK: ~40 ms added to every create, update and delete. Moleculer hands `socketOptions`
 * to amqplib; its typings omit the field, hence the spread.
 */
const AMQP_SOCKET = { socketOptions: { noDelay: true } };

export function createBrokerOptions(config: AppConfig): BrokerOptions {
	return {
		namespace: config.namespace,
		nodeID: config.nodeID,
		logger: logger(config),
		transporter: config.transporter
			? new ResilientAmqpTransporter({
					url: config.transporter,
					queueType: config.amqpQueueType,
					// Event queues: durable, shared by a group's replicas, kept while consumers are down.
					autoDeleteQueues: false,
					eventTimeToLive: 86_400_000,
					messageOptions: { persistent: true },
					prefetch: config.amqpPrefetch,
					// the shared queues this project declares; another team's group queues are theirs
					ownServices: SERVICE_NAMES,
					...AMQP_SOCKET,
				})
			: null,
		// Packets between nodes authenticated and encrypted (or, without a secret, a warning at start),
		// then Moleculer's internal middlewares in its own order, with one swapped: its request
		// metrics at a fraction of the cost per call (lib/infra/request-metrics.ts).
		middlewares: [transitAuth(config.transporterSecrets), ...internalMiddlewares],
		internalMiddlewares: false,
		// With a transporter each event group gets one durable queue shared by its replicas.
		// Without one, the balancer must stay on or local handlers would never be called.
		disableBalancer: config.transporter !== null,
		cacher:
			config.cacher === "Memory"
				? // LRU with a ceiling: every valid id, page and filter is a key of its own, so a plain
					// Memory cacher grows with whatever a client cares to ask (moleculer's MemoryLRU: lru-cache)
					{ type: "MemoryLRU", options: { ttl: 60, max: MEMORY_CACHE_MAX_KEYS, keygen: cacheKeygen } }
				: // Moleculer's Redis cacher, each service's list pages in one hash: a write cleans them
					// with one DEL, not a SCAN of a Redis other programs may share (lib/infra/redis-cacher.ts)
					new ListPagesRedisCacher({
						ttl: 60,
						keygen: cacheKeygen,
						prefix: `MOL${config.namespace ? `-${config.namespace}` : ""}`,
						// ioredis connection options (Moleculer passes them to `new Redis(...)`)
						redis: redisConnection(config.cacher),
					}),
		// Our errors keep their class of status across nodes (a remote 404 is no 500 at the gateway).
		errorRegenerator: new AppErrorRegenerator(),
		requestTimeout: 10_000,
		retryPolicy: { enabled: true, retries: 3, delay: 100, maxDelay: 1000, factor: 2, check: notDelivered },
		// Moleculer's breaker counts 5xx answers, but in 0.15 it misses timeouts (the Timeout
		// middleware wraps it), and with disableBalancer broker.call ignores an open circuit (only
		// moleculer-web's endpoint lookup and a node's own local endpoints honour it). The goal
		// service's client check therefore has its own breaker (lib/infra/circuit-breaker.ts).
		circuitBreaker: {
			enabled: true,
			threshold: BREAKER.threshold,
			minRequestCount: BREAKER.minRequestCount,
			windowTime: BREAKER.windowMs / 1000,
			halfOpenTime: BREAKER.halfOpenMs,
			check: countsAgainstBreaker,
		},
		// Finish in-flight requests and events before services stop (Ctrl-C loses nothing).
		tracking: { enabled: true, shutdownTimeout: 5_000 },
		validator: true,
		replOptions: { customCommands: [...replCommands, faultsReplCommand] },
		tracing: tracer(config),
		// Built-in and our own metrics (lib/infra/metrics.ts); Prometheus exports them when METRICS_PORT is set.
		metrics: {
			enabled: true,
			reporter: config.metricsPort === null ? [] : [{ type: "Prometheus", options: { port: config.metricsPort, host: config.metricsHost } }],
		},
		skipProcessEventRegistration: true,
	};
}
