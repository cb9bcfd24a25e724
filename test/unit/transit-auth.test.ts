/**
 * The packet cipher of lib/infra/transit-auth.ts (AES-256-GCM with a key derived from
 * TRANSPORTER_SECRET), and its middleware's receive path: anything that is not one of our
 * frames, sealed with our key for this namespace and packet type, is dropped, counted and
 * logged at most every 10 s (an injected clock), and never throws.
 */
import { ServiceBroker } from "moleculer";
import { METRICS } from "../../lib/constants";
import { deriveTransitKey, openPacket, packetContext, sealPacket, transitAuth } from "../../lib/infra/transit-auth";

const SECRET = "a-secret-of-at-least-32-characters-0123456789";
const key = deriveTransitKey(SECRET);
const otherKey = deriveTransitKey(`${SECRET}!`);
const context = packetContext("demo", "REQ");
const packet = Buffer.from(JSON.stringify({ ver: "5", sender: "clients-1", action: "clients.eventsAfter", params: { after: 0 } }));

describe("sealPacket / openPacket", () => {
	test("a sealed packet opens to the same bytes, and is not readable on the wire", () => {
		const frame = sealPacket(key, packet, context);
		expect(frame.includes(Buffer.from("clients.eventsAfter"))).toBe(false);
		expect(openPacket(key, frame, context)).toEqual({ ok: true, data: packet });
		expect(openPacket(key, sealPacket(key, Buffer.alloc(0), context), context)).toEqual({ ok: true, data: Buffer.alloc(0) });
	});

	test("each packet has its own IV: the same packet sealed twice differs", () => {
		expect(sealPacket(key, packet, context).equals(sealPacket(key, packet, context))).toBe(false);
	});

	test("a change to any byte (version, IV, ciphertext or tag) is rejected", () => {
		const frame = sealPacket(key, packet, context);
		for (let at = 0; at < frame.length; at++) {
			const tampered = Buffer.from(frame);
			tampered[at] ^= 0x01;
			expect(openPacket(key, tampered, context).ok).toBe(false);
		}
	});

	test("another key, another namespace or another packet type is rejected", () => {
		const frame = sealPacket(key, packet, context);
		expect(openPacket(otherKey, frame, context)).toEqual({ ok: false, reason: "authentication" });
		expect(openPacket(key, frame, packetContext("other", "REQ"))).toEqual({ ok: false, reason: "authentication" });
		expect(openPacket(key, frame, packetContext("demo", "EVENT"))).toEqual({ ok: false, reason: "authentication" });
	});

	test("a truncated frame, an empty one, or a plain Moleculer packet is rejected", () => {
		const frame = sealPacket(key, packet, context);
		for (const length of [0, 1, 12, 13, 28, frame.length - 1]) {
			expect(openPacket(key, frame.subarray(0, length), context).ok).toBe(false);
		}
		expect(openPacket(key, frame.subarray(0, 28), context)).toEqual({ ok: false, reason: "framing" });
		expect(openPacket(key, packet, context)).toEqual({ ok: false, reason: "framing" });
	});

	test("a 32-byte key that depends on the secret alone (a fixed salt: every node derives the same)", () => {
		expect(deriveTransitKey(SECRET)).toHaveLength(32);
		expect(deriveTransitKey(SECRET).equals(key)).toBe(true);
		expect(otherKey.equals(key)).toBe(false);
	});
});

interface Hooks {
	created(broker: ServiceBroker): void;
	transporterSend(next: (topic: string, data: Buffer, meta: unknown) => Promise<void>): (topic: string, data: Buffer, meta: unknown) => Promise<void>;
	transporterReceive(next: (cmd: string, data: Buffer) => unknown): (cmd: string, data: Buffer) => unknown;
}

describe("the transit middleware", () => {
	let broker: ServiceBroker;
	let clock = 0;
	const warnings: string[] = [];
	let hooks: Hooks;
	const received: Buffer[] = [];
	let receive: (cmd: string, data: Buffer) => unknown;

	beforeAll(() => {
		broker = new ServiceBroker({ logger: false, namespace: "demo", metrics: { enabled: true } });
		hooks = transitAuth(SECRET, () => clock) as unknown as Hooks;
		hooks.created(broker);
		broker.logger.warn = ((message: string) => warnings.push(message)) as typeof broker.logger.warn;
		receive = hooks.transporterReceive((_cmd, data) => {
			received.push(data);
		});
	});

	const rejected = (type: string, reason: string) =>
		(broker.metrics.getMetric(METRICS.transitRejected)?.get({ type, reason })?.value as number | undefined) ?? 0;

	test("what one node sends, another opens: the frame is bound to the packet's type", async () => {
		const sent: Buffer[] = [];
		const send = hooks.transporterSend(async (_topic, data) => {
			sent.push(data);
		});
		await send("MOL-demo.REQB.clients.eventsAfter", packet, { packet: { type: "REQ" } });
		expect(receive("REQ", sent[0])).toBeUndefined();
		expect(received).toEqual([packet]);
		// the same bytes delivered as another kind of packet are not accepted
		expect(receive("EVENT", sent[0])).toBeUndefined();
		expect(received).toHaveLength(1);
		expect(rejected("EVENT", "authentication")).toBe(1);
	});

	test("a plain packet, a forged frame or garbage is dropped without throwing, each one counted, the log rate-limited", () => {
		warnings.length = 0;
		clock = 1_000_000;
		const forged = sealPacket(otherKey, packet, context);
		expect(() => receive("REQ", packet)).not.toThrow();
		expect(() => receive("REQ", forged)).not.toThrow();
		expect(() => receive("HEARTBEAT", Buffer.alloc(3))).not.toThrow();
		expect(received).toHaveLength(1);
		expect(rejected("REQ", "framing")).toBe(1);
		expect(rejected("REQ", "authentication")).toBe(1);
		expect(rejected("HEARTBEAT", "framing")).toBe(1);
		// one warning for the three; the next one 10 s later says how many it did not log
		expect(warnings).toHaveLength(1);
		clock += 9_999;
		receive("REQ", packet);
		expect(warnings).toHaveLength(1);
		clock += 1;
		receive("REQ", packet);
		expect(warnings).toHaveLength(2);
		expect(warnings[1]).toMatch(/and 3 more since the last warning/);
		expect(rejected("REQ", "framing")).toBe(3);
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
	});
});
