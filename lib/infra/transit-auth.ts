/**
 * Every packet between nodes authenticated and encrypted with a shared secret (TRANSPORTER_SECRET):
 * AES-256-GCM (node:crypto) in Moleculer's transporter hooks, so that whoever reaches RabbitMQ
 * without the secret can neither read a packet nor have one accepted: no call of an internal
 * action (`*.eventsAfter`, `$node.options`, dead-letter retry), no forged event.
 *
 * Moleculer's own Encryption middleware uses AES-CBC without authentication: a packet changed
 * on the way is decrypted into something else and handled. GCM's tag is checked before a byte
 * is handed on; a packet that fails is dropped (never thrown at the transporter), counted
 * (`cg.transit.rejected`) and logged at most every 10 s.
 *
 * Frame: version (1 byte) | IV (12 random bytes) | ciphertext | tag (16 bytes). The additional
 * authenticated data binds a packet to its namespace and packet type, so that a packet cannot be
 * replayed into another namespace or as another kind of packet. A packet that is captured and
 * sent again unchanged is not detected here: events are idempotent (the version guard), and a
 * request queue holds packets for hours legitimately, so no freshness window could tell.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import type { Middleware, ServiceBroker } from "moleculer";
import { METRICS } from "../constants";
import { count, registerMetrics } from "./metrics";

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const HEADER_BYTES = 1 + IV_BYTES;
/** scrypt, so that a weak secret still costs a guesser: ~150 ms once per process here */
const KDF = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KDF_SALT = "moleculer-clients-goals/transit/v1";
/** Shortest TRANSPORTER_SECRET accepted (as for ADMIN_TOKEN): `openssl rand -hex 32` gives 64. */
export const TRANSPORTER_SECRET_MIN_LENGTH = 32;
/** rejected packets are logged at most this often (each one is counted) */
const LOG_EVERY_MS = 10_000;

/** Why a packet was dropped: not one of our frames at all, or a frame whose tag does not match. */
export type RejectReason = "framing" | "authentication";

export type Opened = { ok: true; data: Buffer } | { ok: false; reason: RejectReason };

const keys = new Map<string, Buffer>();

/** The packet key of a secret (derived once per process and secret). */
export function deriveTransitKey(secret: string): Buffer {
	let key = keys.get(secret);
	if (!key) {
		key = scryptSync(secret, KDF_SALT, KEY_BYTES, KDF);
		keys.set(secret, key);
	}
	return key;
}

/** What a packet is bound to besides its bytes: the format, the namespace and the packet type. */
export function packetContext(namespace: string, packetType: string): Buffer {
	return Buffer.from(`cg-transit-v${VERSION}\0${namespace}\0${packetType}`, "utf8");
}

/** Encrypt and authenticate one packet. Pure apart from the random IV. */
export function sealPacket(key: Buffer, data: Buffer, context: Buffer): Buffer {
	const iv = randomBytes(IV_BYTES);
	const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
	cipher.setAAD(context);
	const body = Buffer.concat([cipher.update(data), cipher.final()]);
	return Buffer.concat([Buffer.from([VERSION]), iv, body, cipher.getAuthTag()]);
}

/** Check and decrypt one packet; never throws. */
export function openPacket(key: Buffer, frame: Buffer, context: Buffer): Opened {
	if (!Buffer.isBuffer(frame) || frame.length < HEADER_BYTES + TAG_BYTES || frame[0] !== VERSION) {
		return { ok: false, reason: "framing" };
	}
	try {
		const iv = frame.subarray(1, HEADER_BYTES);
		const tag = frame.subarray(frame.length - TAG_BYTES);
		const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
		decipher.setAAD(context);
		decipher.setAuthTag(tag);
		const data = Buffer.concat([decipher.update(frame.subarray(HEADER_BYTES, frame.length - TAG_BYTES)), decipher.final()]);
		return { ok: true, data };
	} catch {
		return { ok: false, reason: "authentication" };
	}
}

type Send = (topic: string, data: Buffer, meta: { packet?: { type?: string } }) => Promise<void>;
type Receive = (cmd: string, data: Buffer, ...rest: unknown[]) => Promise<void> | void;

/**
 * The transit middleware for a secret. With none, a node that has a transporter says at start
 * that its packets are neither authenticated nor encrypted; a single process needs nothing.
 * Tests' probe brokers use the same function, so they talk to the nodes as a node does.
 */
export function transitAuth(secret: string | null, now: () => number = Date.now): Middleware {
	if (!secret) {
		return {
			name: "TransitAuth",
			created(broker: ServiceBroker) {
				if (broker.transit) {
					broker.logger.warn(
						"TRANSPORTER_SECRET is not set: packets between nodes are neither authenticated nor encrypted, and any " +
							"process that reaches the transporter can call internal actions and publish events as a node.",
					);
				}
			},
		};
	}
	const key = deriveTransitKey(secret);
	let broker: ServiceBroker;
	let lastLogAt = Number.NEGATIVE_INFINITY;
	let unlogged = 0;

	function rejected(type: string, reason: RejectReason): void {
		count(broker, METRICS.transitRejected, { type, reason });
		const at = now();
		if (at - lastLogAt < LOG_EVERY_MS) {
			unlogged++;
			return;
		}
		const more = unlogged > 0 ? ` (and ${unlogged} more since the last warning)` : "";
		broker.logger.warn(
			`Dropped a ${type} packet that failed authentication (${reason})${more}: a process without TRANSPORTER_SECRET, or with another, is on this transporter and namespace.`,
		);
		lastLogAt = at;
		unlogged = 0;
	}

	const middleware = {
		name: "TransitAuth",
		created(created: ServiceBroker) {
			broker = created;
			registerMetrics(broker);
		},
		transporterSend(next: Send): Send {
			return (topic, data, meta) => next(topic, sealPacket(key, data, packetContext(broker.namespace, meta.packet?.type ?? "")), meta);
		},
		transporterReceive(next: Receive): Receive {
			return (cmd, data, ...rest) => {
				const opened = openPacket(key, data, packetContext(broker.namespace, cmd));
				if (!opened.ok) {
					try {
						rejected(cmd, opened.reason);
					} catch {
						// counting and logging must never be what fails the receive path
					}
					return undefined;
				}
				return next(cmd, opened.data, ...rest);
			};
		},
	};
	// Moleculer's typings describe transporter hooks as returning a promise; they return the wrapped function
	return middleware as unknown as Middleware;
}
