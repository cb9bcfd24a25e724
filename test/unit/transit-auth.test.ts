/**
 * The packet cipher of lib/infra/transit-auth.ts (AES-256-GCM with keys derived from
 * TRANSPORTER_SECRET, each packet naming its key by a short id), and its middleware's receive
 * path: anything that is not one of our frames, sealed with a key of this node's list for this
 * namespace and packet type, is dropped, counted and logged at most every 10 s per sender (an
 * injected clock), and never throws. A comma list rotates: sealed with the first, opened with any.
 */
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { METRICS } from "../../lib/constants";
import { openPacket, packetContext, sealPacket, transitAuth, transitKey } from "../../lib/infra/transit-auth";
import { deriveTransitKey, keyIdOf, transitKeys } from "../../lib/infra/transit-keys";
import { secretList } from "../../lib/infra/secret-list";
import { OTHER_SENDERS, SenderThrottle } from "../../lib/infra/sender-throttle";
import { packetProtection } from "../../lib/neighbour";
import { ConfigError } from "../../lib/errors";

const SECRET = "a-secret-of-at-least-32-characters-0123456789";
const NEW_SECRET = "the-next-secret-of-at-least-32-characters-xyz";
const key = transitKey(SECRET);
const newKey = transitKey(NEW_SECRET);
const otherKey = transitKey(`${SECRET}!`);
const context = packetContext("demo", "REQ");
const packet = Buffer.from(JSON.stringify({ ver: "5", sender: "clients-1", action: "clients.eventsAfter", params: { after: 0 } }));

/** A frame as builds before key ids sealed it (version 1: version | IV | ciphertext | tag, no key named). */
function sealVersion1(secret: string, data: Buffer, aad: Buffer): Buffer {
	const iv = randomBytes(12);
	const cipher = createCipheriv("aes-256-gcm", deriveTransitKey(secret), iv, { authTagLength: 16 });
	cipher.setAAD(aad);
	const body = Buffer.concat([cipher.update(data), cipher.final()]);
	return Buffer.concat([Buffer.from([1]), iv, body, cipher.getAuthTag()]);
}

describe("key ids", () => {
	test("given a secret, then its key is 32 bytes and its id the first 4 bytes of the key's SHA-256, the same on every node", () => {
		expect(key.key).toHaveLength(32);
		expect(key.id).toHaveLength(4);
		// sha256 of the derived key, computed apart from the code under test
		expect(key.id.equals(createHash("sha256").update(deriveTransitKey(SECRET)).digest().subarray(0, 4))).toBe(true);
		expect(key.idText).toBe(key.id.toString("hex"));
		expect(transitKey(SECRET).id.equals(key.id)).toBe(true);
	});

	test("given two secrets, then their ids differ, and neither is any part of the secret or the key", () => {
		expect(newKey.idText).not.toBe(key.idText);
		expect(otherKey.idText).not.toBe(key.idText);
		expect(Buffer.from(SECRET).includes(key.id)).toBe(false);
		expect(key.key.includes(key.id)).toBe(false);
		expect(keyIdOf(key.key).equals(key.id)).toBe(true);
	});

	test("given a list, then its keys keep its order (the first seals)", () => {
		expect(transitKeys([NEW_SECRET, SECRET]).map((one) => one.idText)).toEqual([newKey.idText, key.idText]);
	});
});

describe("secret lists (TRANSPORTER_SECRET, ADMIN_TOKEN)", () => {
	test.each([
		[SECRET, [SECRET]],
		[` ${SECRET} `, [SECRET]],
		[`${NEW_SECRET},${SECRET}`, [NEW_SECRET, SECRET]],
		[` ${NEW_SECRET} , ${SECRET} ,`, [NEW_SECRET, SECRET]],
		[`${SECRET},,${SECRET}`, [SECRET]],
		["", []],
		[" , ", []],
	])("given %p, then the list is %p", (raw, list) => {
		expect(secretList("TRANSPORTER_SECRET", raw, 32)).toEqual(list);
	});

	test("given no variable at all, then the list is empty", () => {
		expect(secretList("ADMIN_TOKEN", undefined, 32)).toEqual([]);
	});

	test("given a short entry in a list, then a ConfigError names the variable and the entry, never the secret", () => {
		let thrown: unknown;
		try {
			secretList("TRANSPORTER_SECRET", `${SECRET},short-one`, 32);
		} catch (err) {
			thrown = err;
		}
		expect(thrown).toBeInstanceOf(ConfigError);
		expect((thrown as ConfigError).message).toMatch(/TRANSPORTER_SECRET: entry 2 of 2 must be at least 32 characters \(it has 9\)/);
		expect((thrown as ConfigError).message).not.toContain("short-one");
		expect((thrown as ConfigError).message).not.toContain(SECRET);
	});
});

describe("sealPacket / openPacket", () => {
	test("a sealed packet opens to the same bytes, names its key and sender, and is not readable on the wire", () => {
		const frame = sealPacket(key, packet, context, "clients-1");
		expect(frame.includes(Buffer.from("clients.eventsAfter"))).toBe(false);
		expect(frame[0]).toBe(2);
		expect(frame.subarray(1, 5).equals(key.id)).toBe(true);
		expect(openPacket([key], frame, context)).toEqual({ ok: true, data: packet, keyId: key.idText });
		expect(openPacket([key], sealPacket(key, Buffer.alloc(0), context), context)).toEqual({ ok: true, data: Buffer.alloc(0), keyId: key.idText });
	});

	test("given a list, then a packet sealed with any of its keys opens, with the key it names", () => {
		const ring = [newKey, key];
		expect(openPacket(ring, sealPacket(key, packet, context, "goals-1"), context)).toEqual({ ok: true, data: packet, keyId: key.idText });
		expect(openPacket(ring, sealPacket(newKey, packet, context, "goals-2"), context)).toEqual({ ok: true, data: packet, keyId: newKey.idText });
	});

	test("given a packet sealed with a key the node does not hold, then it is 'unknown-key', with the key id and the sender it claims", () => {
		expect(openPacket([newKey], sealPacket(key, packet, context, "goals-2"), context)).toEqual({
			ok: false,
			reason: "unknown-key",
			sender: "goals-2",
			keyId: key.idText,
		});
	});

	test("given a frame naming our key but sealed with another, then it fails authentication", () => {
		const forged = sealPacket(otherKey, packet, context, "rogue");
		key.id.copy(forged, 1);
		expect(openPacket([key], forged, context)).toMatchObject({ ok: false, reason: "authentication", sender: "rogue" });
	});

	test("each packet has its own IV: the same packet sealed twice differs", () => {
		expect(sealPacket(key, packet, context).equals(sealPacket(key, packet, context))).toBe(false);
	});

	test("a change to any byte (version, key id, sender, IV, ciphertext or tag) is rejected", () => {
		const frame = sealPacket(key, packet, context, "clients-1");
		for (let at = 0; at < frame.length; at++) {
			const tampered = Buffer.from(frame);
			tampered[at] ^= 0x01;
			expect(openPacket([key], tampered, context).ok).toBe(false);
		}
	});

	test("another namespace or another packet type is rejected", () => {
		const frame = sealPacket(key, packet, context);
		expect(openPacket([key], frame, packetContext("other", "REQ"))).toMatchObject({ ok: false, reason: "authentication" });
		expect(openPacket([key], frame, packetContext("demo", "EVENT"))).toMatchObject({ ok: false, reason: "authentication" });
	});

	test("a truncated frame, an empty one, or a plain Moleculer packet is rejected", () => {
		const frame = sealPacket(key, packet, context, "clients-1");
		for (const length of [0, 1, 5, 6, 12, 28, 44, frame.length - 1]) {
			expect(openPacket([key], frame.subarray(0, length), context).ok).toBe(false);
		}
		expect(openPacket([key], frame.subarray(0, 28), context)).toMatchObject({ ok: false, reason: "framing" });
		expect(openPacket([key], packet, context)).toMatchObject({ ok: false, reason: "framing" });
	});

	test("a node id longer than 255 bytes is cut in the header, and the packet still opens", () => {
		const frame = sealPacket(key, packet, context, "n".repeat(300));
		expect(frame[5]).toBe(255);
		expect(openPacket([key], frame, context)).toMatchObject({ ok: true, data: packet });
	});

	test("given a version 1 frame (an earlier build, no key named), then it opens with whichever key of the list sealed it", () => {
		const old = sealVersion1(SECRET, packet, context);
		expect(openPacket([key], old, context)).toEqual({ ok: true, data: packet, keyId: null });
		expect(openPacket([newKey, key], old, context)).toEqual({ ok: true, data: packet, keyId: null });
		expect(openPacket([newKey], old, context)).toMatchObject({ ok: false, reason: "authentication", sender: null });
		expect(openPacket([key], sealVersion1(SECRET, packet, packetContext("demo", "EVENT")), context)).toMatchObject({ ok: false, reason: "authentication" });
	});
});

describe("SenderThrottle: a warning per sender at most every interval", () => {
	test("given one sender, then one line, the next after the interval counting what it held back", () => {
		const throttle = new SenderThrottle(10_000);
		expect(throttle.take("goals-2", 0)).toEqual({ log: true, unlogged: 0 });
		expect(throttle.take("goals-2", 1)).toEqual({ log: false });
		expect(throttle.take("goals-2", 9_999)).toEqual({ log: false });
		expect(throttle.take("goals-2", 10_000)).toEqual({ log: true, unlogged: 2 });
	});

	test("given two senders, then each has its own line", () => {
		const throttle = new SenderThrottle(10_000);
		expect(throttle.take("goals-2", 0)).toEqual({ log: true, unlogged: 0 });
		expect(throttle.take("api-1", 5)).toEqual({ log: true, unlogged: 0 });
		expect(throttle.take("goals-2", 6)).toEqual({ log: false });
	});

	test("given more senders than the table holds in one interval, then the rest share one entry; quiet ones are forgotten", () => {
		const throttle = new SenderThrottle(10_000, 2);
		expect(throttle.take("a", 0).log).toBe(true);
		expect(throttle.take("b", 0).log).toBe(true);
		expect(throttle.take("c", 1)).toEqual({ log: true, unlogged: 0 });
		expect(throttle.take("d", 2)).toEqual({ log: false });
		// a and b quiet for an interval: forgotten, room again
		expect(throttle.take("e", 10_001)).toEqual({ log: true, unlogged: 0 });
		expect(OTHER_SENDERS).toMatch(/other/);
	});
});

interface Hooks {
	created(broker: ServiceBroker): void;
	transporterSend(next: (topic: string, data: Buffer, meta: unknown) => Promise<void>): (topic: string, data: Buffer, meta: unknown) => Promise<void>;
	transporterReceive(next: (cmd: string, data: Buffer) => unknown): (cmd: string, data: Buffer) => unknown;
}

/** A broker with a transit middleware for `secrets`, what it received and logged, and its counters. */
function node(secrets: string | string[], clock: () => number, nodeID = "node-1") {
	const broker = new ServiceBroker({ logger: false, namespace: "demo", nodeID, metrics: { enabled: true } });
	const hooks = transitAuth(secrets, clock) as unknown as Hooks;
	hooks.created(broker);
	const warnings: string[] = [];
	broker.logger.warn = ((message: string) => warnings.push(message)) as typeof broker.logger.warn;
	const received: Buffer[] = [];
	const receive = hooks.transporterReceive((_cmd, data) => {
		received.push(data);
	});
	const sent: Buffer[] = [];
	const send = hooks.transporterSend(async (_topic, data) => {
		sent.push(data);
	});
	const rejected = (type: string, reason: string) =>
		(broker.metrics.getMetric(METRICS.transitRejected)?.get({ type, reason })?.value as number | undefined) ?? 0;
	return { broker, warnings, received, receive, sent, send, rejected };
}

describe("the transit middleware", () => {
	let clock = 0;
	const now = () => clock;

	test("what one node sends, another opens: the frame is bound to the packet's type", async () => {
		const a = node(SECRET, now, "a");
		const b = node(SECRET, now, "b");
		await a.send("MOL-demo.REQB.clients.eventsAfter", packet, { packet: { type: "REQ" } });
		expect(b.receive("REQ", a.sent[0])).toBeUndefined();
		expect(b.received).toEqual([packet]);
		// the same bytes delivered as another kind of packet are not accepted
		expect(b.receive("EVENT", a.sent[0])).toBeUndefined();
		expect(b.received).toHaveLength(1);
		expect(b.rejected("EVENT", "authentication")).toBe(1);
		// the frame names the sender's node id
		expect(a.sent[0].includes(Buffer.from("a"))).toBe(true);
	});

	test("a plain packet, a forged frame or garbage is dropped without throwing, each one counted, the log rate-limited", () => {
		const b = node(SECRET, now);
		clock = 1_000_000;
		const forged = sealVersion1(`${SECRET}!`, packet, context);
		expect(() => b.receive("REQ", packet)).not.toThrow();
		expect(() => b.receive("REQ", forged)).not.toThrow();
		expect(() => b.receive("HEARTBEAT", Buffer.alloc(3))).not.toThrow();
		expect(b.received).toHaveLength(0);
		expect(b.rejected("REQ", "framing")).toBe(1);
		expect(b.rejected("REQ", "authentication")).toBe(1);
		expect(b.rejected("HEARTBEAT", "framing")).toBe(1);
		// none of them names a sender: one warning for the three; the next one 10 s later says how many it did not log
		expect(b.warnings).toHaveLength(1);
		clock += 9_999;
		b.receive("REQ", packet);
		expect(b.warnings).toHaveLength(1);
		clock += 1;
		b.receive("REQ", packet);
		expect(b.warnings).toHaveLength(2);
		expect(b.warnings[1]).toMatch(/and 3 more from it since the last warning/);
		expect(b.rejected("REQ", "framing")).toBe(3);
	});

	test("rotation A → A,B → B,A → B: every node opens every other node's packets at every step", async () => {
		const steps = [[SECRET], [SECRET, NEW_SECRET], [NEW_SECRET, SECRET], [NEW_SECRET]];
		// neighbouring steps live side by side while the nodes are restarted one at a time
		for (let i = 0; i + 1 < steps.length; i++) {
			const before = node(steps[i], now, "before");
			const after = node(steps[i + 1], now, "after");
			await before.send("t", packet, { packet: { type: "EVENT" } });
			await after.send("t", packet, { packet: { type: "EVENT" } });
			after.receive("EVENT", before.sent[0]);
			before.receive("EVENT", after.sent[0]);
			expect({ step: i, before: before.received, after: after.received }).toEqual({ step: i, before: [packet], after: [packet] });
		}
	});

	test("given a node left with only the retired secret, then its packets are 'unknown-key': counted each, logged once per interval naming it", async () => {
		clock = 5_000_000;
		const current = node(NEW_SECRET, now, "goals-1");
		const retired = node(SECRET, now, "goals-2");
		const stranger = node(`${SECRET}!`, now, "rogue-1");
		for (let i = 0; i < 5; i++) await retired.send("t", packet, { packet: { type: "INFO" } });
		await stranger.send("t", packet, { packet: { type: "INFO" } });
		for (const frame of [...retired.sent, ...stranger.sent]) current.receive("INFO", frame);
		expect(current.received).toEqual([]);
		expect(current.rejected("INFO", "unknown-key")).toBe(6);
		expect(current.warnings).toHaveLength(2);
		expect(current.warnings[0]).toContain(`from 'goals-2' sealed with key ${key.idText}, which is not in this node's TRANSPORTER_SECRET`);
		expect(current.warnings[1]).toContain("from 'rogue-1'");
		for (const line of current.warnings) expect(line).not.toContain(SECRET);
		clock += 10_000;
		current.receive("INFO", retired.sent[0]);
		expect(current.warnings).toHaveLength(3);
		expect(current.warnings[2]).toMatch(/from 'goals-2'.*\(and 4 more from it since the last warning\)/);
	});

	test("without a secret, a node with a transporter warns at start; one without says nothing", () => {
		const logged: string[] = [];
		const plain = transitAuth(null) as unknown as Hooks;
		const fake = { transit: {}, logger: { warn: (message: string) => logged.push(message) } } as unknown as ServiceBroker;
		plain.created(fake);
		expect(logged).toEqual([expect.stringMatching(/TRANSPORTER_SECRET is not set/)]);
		plain.created({ transit: undefined, logger: { warn: (message: string) => logged.push(message) } } as unknown as ServiceBroker);
		expect(logged).toHaveLength(1);
		expect(plain).not.toHaveProperty("transporterReceive");
		expect(transitAuth([])).not.toHaveProperty("transporterReceive");
		expect(transitAuth(" , ")).not.toHaveProperty("transporterReceive");
	});
});

describe("a neighbour's packetProtection (lib/neighbour.ts)", () => {
	test.each([
		// the neighbour's TRANSPORTER_SECRET, and whether it reads a node that seals with the new secret
		[SECRET, false],
		[`${SECRET},${NEW_SECRET}`, true],
		[` ${NEW_SECRET} , ${SECRET} `, true],
	])("given %p, then a node holding both secrets reads it, and it reads that node's new-secret packets: %p", async (secret, readsNew) => {
		const member = node([NEW_SECRET, SECRET], () => 0, "goals-1");
		const hooks = packetProtection(secret) as unknown as Hooks;
		const broker = new ServiceBroker({ logger: false, namespace: "demo", nodeID: "audit-1", metrics: { enabled: false } });
		hooks.created(broker);
		const sent: Buffer[] = [];
		await hooks.transporterSend(async (_topic, data) => void sent.push(data))("t", packet, { packet: { type: "EVENT" } });
		member.receive("EVENT", sent[0]);
		expect(member.received).toEqual([packet]);
		const received: Buffer[] = [];
		hooks.transporterReceive((_cmd, data) => void received.push(data))("EVENT", sealPacket(newKey, packet, packetContext("demo", "EVENT"), "goals-1"));
		expect(received.length === 1).toBe(readsNew);
	});

	test("given none, then nothing; given a short secret (alone or in a list), then the nodes' ConfigError", () => {
		expect(packetProtection(undefined)).not.toHaveProperty("transporterSend");
		expect(packetProtection("  ")).not.toHaveProperty("transporterSend");
		expect(() => packetProtection("short")).toThrow(ConfigError);
		expect(() => packetProtection(`${SECRET},short`)).toThrow(/entry 2 of 2 must be at least 32 characters/);
	});
});
