/**
 * The packet keys of TRANSPORTER_SECRET (lib/infra/transit-auth.ts seals and opens with them): one
 * AES-256 key per secret of the list, derived with scrypt, each named by a short id that every
 * packet carries, so that a receiver opens a packet with the key it names, and can tell a packet
 * sealed with a key it does not hold (a node left with a retired secret) from a forged one.
 *
 * The id is the first 4 bytes of the SHA-256 of the derived key: it says nothing of the key (nor
 * of the secret, which scrypt already stands between), and two secrets of one list share an id
 * once in 4 billion, a case the receiver still handles (it tries each key of that id).
 */
import { createHash, scryptSync } from "node:crypto";

const KEY_BYTES = 32;
export const KEY_ID_BYTES = 4;
/** scrypt, so that a weak secret still costs a guesser: ~150 ms once per process and secret */
const KDF = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KDF_SALT = "moleculer-clients-goals/transit/v1";

/** A packet key and the id packets name it by. */
export interface TransitKey {
	key: Buffer;
	/** KEY_ID_BYTES bytes */
	id: Buffer;
	/** the id in hex, for logs */
	idText: string;
}

const derived = new Map<string, Buffer>();

/** The packet key of a secret (derived once per process and secret). */
export function deriveTransitKey(secret: string): Buffer {
	let key = derived.get(secret);
	if (!key) {
		key = scryptSync(secret, KDF_SALT, KEY_BYTES, KDF);
		derived.set(secret, key);
	}
	return key;
}

/** The id packets name a key by: the first bytes of its SHA-256. */
export function keyIdOf(key: Buffer): Buffer {
	return createHash("sha256").update(key).digest().subarray(0, KEY_ID_BYTES);
}

export function transitKey(secret: string): TransitKey {
	const key = deriveTransitKey(secret);
	const id = keyIdOf(key);
	return { key, id, idText: id.toString("hex") };
}

/** The keys of a list of secrets, in its order: the first seals, any opens. */
export function transitKeys(secrets: readonly string[]): TransitKey[] {
	return secrets.map(transitKey);
}
