/**
 * Every packet between nodes authenticated and encrypted with a shared secret (TRANSPORTER_SECRET):
 * AES-256-GCM (node:crypto) in Moleculer's transporter hooks, so that whoever reaches RabbitMQ
 * without the secret can neither read a packet nor have one accepted: no call of an internal
 * action (`*.eventsAfter`, `$node.options`, dead-letter retry), no forged event.
 *
 * Moleculer's own Encryption middleware uses AES-CBC without authentication: a packet changed
 * on the way is decrypted into something else and handled. GCM's tag is checked before a byte
 * is handed on; a packet that fails is dropped (never thrown at the transporter), counted
 * (`cg.transit.rejected`) and logged at most every 10 s per sender.
 *
 * Rotation without downtime: TRANSPORTER_SECRET may hold a comma list. Packets are sealed with
 * the first secret's key and opened with whichever key of the list they name
 * (lib/infra/transit-keys.ts); a packet naming a key the node does not hold is dropped as
 * `unknown-key`, which is what a node left with only a retired secret shows as.
 *
 * Frame: version 2 (1 byte) | key id (4 bytes) | sender length (1 byte) | sender (its node id,
 * UTF-8) | IV (12 random bytes) | ciphertext | tag (16 bytes). The additional authenticated data
 * binds a packet to its namespace and packet type, so that a packet cannot be replayed into
 * another namespace or as another kind of packet, and covers the header (key id and sender),
 * which is in the clear only so that a receiver can pick the key and name who sent what it could
 * not open. Frames of version 1 (nodes and neighbours of earlier builds: version | IV | ciphertext
 * | tag, no key named) are still opened, with each key in turn.
 *
 * A packet that is captured and sent again unchanged is not detected here: events are idempotent
 * (the version guard), and a request queue holds packets for hours legitimately, so no freshness
 * window could tell.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { Middleware, ServiceBroker } from "moleculer";
import { METRICS } from "../constants";
import { count, registerMetrics } from "./metrics";
import { SenderThrottle } from "./sender-throttle";
import { KEY_ID_BYTES, type TransitKey, transitKeys } from "./transit-keys";
import { secretList } from "./secret-list";

export { deriveTransitKey, type TransitKey, transitKey } from "./transit-keys";

/** Frames of earlier builds: no key id, no sender. */
const VERSION_UNNAMED = 1;
const VERSION = 2;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** a node id longer than this is cut in the header (it is only ever shown in a log line) */
const SENDER_MAX_BYTES = 255;
/** Shortest TRANSPORTER_SECRET accepted (as for ADMIN_TOKEN): `openssl rand -hex 32` gives 64. */
export const TRANSPORTER_SECRET_MIN_LENGTH = 32;
/** rejected packets are logged at most this often per sender (each one is counted) */
const LOG_EVERY_MS = 10_000;

/**
 * Why a packet was dropped: not one of our frames at all; a frame naming a key this node does not
 * hold (a retired secret, or another cluster's); or a frame whose tag does not match.
 */
export type RejectReason = "framing" | "unknown-key" | "authentication";

export type Opened =
	| { ok: true; data: Buffer; keyId: string | null }
	| { ok: false; reason: RejectReason /** who the frame says sent it, when it says */; sender: string | null; keyId: string | null };

/** What a packet is bound to besides its bytes: the format, the namespace and the packet type. */
export function packetContext(namespace: string, packetType: string): Buffer {
	return Buffer.from(`cg-transit-v1\0${namespace}\0${packetType}`, "utf8");
}

/** The clear part of a frame: version, key id, sender. */
function frameHeader(key: TransitKey, sender: string): Buffer {
	let name = Buffer.from(sender, "utf8");
	if (name.length > SENDER_MAX_BYTES) name = name.subarray(0, SENDER_MAX_BYTES);
	return Buffer.concat([Buffer.from([VERSION]), key.id, Buffer.from([name.length]), name]);
}

/** Encrypt and authenticate one packet with `key`, naming it and the sender. Pure apart from the random IV. */
export function sealPacket(key: TransitKey, data: Buffer, context: Buffer, sender = ""): Buffer {
	const header = frameHeader(key, sender);
	const iv = randomBytes(IV_BYTES);
	const cipher = createCipheriv("aes-256-gcm", key.key, iv, { authTagLength: TAG_BYTES });
	cipher.setAAD(Buffer.concat([context, header]));
	const body = Buffer.concat([cipher.update(data), cipher.final()]);
	return Buffer.concat([header, iv, body, cipher.getAuthTag()]);
}

/** GCM open of `sealed` (IV | ciphertext | tag), or null if the tag does not match. */
function decrypt(key: Buffer, sealed: Buffer, aad: Buffer): Buffer | null {
	try {
		const iv = sealed.subarray(0, IV_BYTES);
		const tag = sealed.subarray(sealed.length - TAG_BYTES);
		const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
		decipher.setAAD(aad);
		decipher.setAuthTag(tag);
		return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
	} catch {
		return null;
	}
}

/** Check and decrypt one packet with whichever of `keys` it names (a version 1 frame: with each in turn); never throws. */
export function openPacket(keys: readonly TransitKey[], frame: Buffer, context: Buffer): Opened {
	const framing = { ok: false, reason: "framing", sender: null, keyId: null } as const;
	if (!Buffer.isBuffer(frame) || frame.length < 1) return framing;
	if (frame[0] === VERSION_UNNAMED) {
		if (frame.length < 1 + IV_BYTES + TAG_BYTES) return framing;
		for (const key of keys) {
			const data = decrypt(key.key, frame.subarray(1), context);
			if (data) return { ok: true, data, keyId: null };
		}
		return { ok: false, reason: "authentication", sender: null, keyId: null };
	}
	if (frame[0] !== VERSION || frame.length < 2 + KEY_ID_BYTES) return framing;
	const id = frame.subarray(1, 1 + KEY_ID_BYTES);
	const senderEnd = 2 + KEY_ID_BYTES + frame[1 + KEY_ID_BYTES];
	if (frame.length < senderEnd + IV_BYTES + TAG_BYTES) return framing;
	const sender = frame.subarray(2 + KEY_ID_BYTES, senderEnd).toString("utf8");
	const keyId = id.toString("hex");
	const named = keys.filter((key) => key.id.equals(id));
	if (named.length === 0) return { ok: false, reason: "unknown-key", sender, keyId };
	const aad = Buffer.concat([context, frame.subarray(0, senderEnd)]);
	for (const key of named) {
		const data = decrypt(key.key, frame.subarray(senderEnd), aad);
		if (data) return { ok: true, data, keyId };
	}
	return { ok: false, reason: "authentication", sender, keyId };
}

type Send = (topic: string, data: Buffer, meta: { packet?: { type?: string } }) => Promise<void>;
type Receive = (cmd: string, data: Buffer, ...rest: unknown[]) => Promise<void> | void;

/** The log line for a dropped packet: what it was, why, and from whom it says it came. */
function rejectionLine(type: string, opened: Extract<Opened, { ok: false }>, unlogged: number): string {
	const from = opened.sender ? ` from '${opened.sender}'` : "";
	const more = unlogged > 0 ? ` (and ${unlogged} more from it since the last warning)` : "";
	if (opened.reason === "unknown-key") {
		return `Dropped a ${type} packet${from} sealed with key ${opened.keyId}, which is not in this node's TRANSPORTER_SECRET${more}: that node holds only a retired secret (or another cluster's); give it the current list.`;
	}
	return `Dropped a ${type} packet${from} that failed authentication (${opened.reason})${more}: a process without TRANSPORTER_SECRET, or with another, is on this transporter and namespace.`;
}

/**
 * The transit middleware for a secret or a list of them (a comma list, as TRANSPORTER_SECRET
 * holds it, or an array). With none, a node that has a transporter says at start that its
 * packets are neither authenticated nor encrypted; a single process needs nothing. Tests' probe
 * brokers use the same function, so they talk to the nodes as a node does.
 */
export function transitAuth(secrets: string | readonly string[] | null, now: () => number = Date.now): Middleware {
	const list = typeof secrets === "string" ? secretList("TRANSPORTER_SECRET", secrets, 1) : [...(secrets ?? [])];
	if (list.length === 0) {
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
	const keys = transitKeys(list);
	const sealing = keys[0];
	const throttle = new SenderThrottle(LOG_EVERY_MS);
	let broker: ServiceBroker;

	function rejected(type: string, opened: Extract<Opened, { ok: false }>): void {
		count(broker, METRICS.transitRejected, { type, reason: opened.reason });
		const throttled = throttle.take(opened.sender ?? "", now());
		if (throttled.log) broker.logger.warn(rejectionLine(type, opened, throttled.unlogged));
	}

	const middleware = {
		name: "TransitAuth",
		created(created: ServiceBroker) {
			broker = created;
			registerMetrics(broker);
			if (keys.length > 1) {
				broker.logger.info(
					`TRANSPORTER_SECRET holds ${keys.length} secrets: packets sealed with key ${sealing.idText}, opened with any of ${keys.map((key) => key.idText).join(", ")}.`,
				);
			}
		},
		transporterSend(next: Send): Send {
			return (topic, data, meta) => next(topic, sealPacket(sealing, data, packetContext(broker.namespace, meta.packet?.type ?? ""), broker.nodeID), meta);
		},
		transporterReceive(next: Receive): Receive {
			return (cmd, data, ...rest) => {
				const opened = openPacket(keys, data, packetContext(broker.namespace, cmd));
				if (!opened.ok) {
					try {
						rejected(cmd, opened);
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
