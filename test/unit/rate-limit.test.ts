/**
 * The pieces of the gateway's rate limiting that need no server: which address is the client's
 * (TRUST_PROXY hops over X-Forwarded-For), and the in-memory fixed windows, on an injected clock.
 */
import type { IncomingMessage } from "node:http";
import { clientIp, normalizeAddress } from "../../lib/http/client-ip";
import { MemoryWindowStore } from "../../lib/http/rate-limit";

function requestFrom(peer: string | undefined, forwardedFor?: string | string[]): IncomingMessage {
	return { socket: { remoteAddress: peer }, headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor } } as unknown as IncomingMessage;
}

describe("clientIp: the TCP peer, or the entry the outermost trusted proxy wrote", () => {
	const chain = "6.6.6.6, 1.1.1.1, 10.0.0.2";

	test.each([
		// hops, X-Forwarded-For, expected
		[0, chain, "10.9.9.9"],
		[0, undefined, "10.9.9.9"],
		[1, chain, "10.0.0.2"],
		[2, chain, "1.1.1.1"],
		[3, chain, "6.6.6.6"],
		// fewer entries than hops (a misconfiguration): the leftmost, as Express does
		[5, chain, "6.6.6.6"],
		// no header: the peer, whatever the hops
		[1, undefined, "10.9.9.9"],
		[1, "", "10.9.9.9"],
	] as const)("TRUST_PROXY=%p, X-Forwarded-For %p: %p", (hops, header, expected) => {
		expect(clientIp(requestFrom("10.9.9.9", header), hops)).toBe(expected);
	});

	test("with 0 hops a forged header changes nothing", () => {
		const addresses = ["1.2.3.4", "5.6.7.8, 9.9.9.9", "garbage"].map((header) => clientIp(requestFrom("127.0.0.1", header), 0));
		expect(new Set(addresses)).toEqual(new Set(["127.0.0.1"]));
	});

	test("with 1 hop only the last entry counts: what the client wrote to the left does not", () => {
		expect(clientIp(requestFrom("127.0.0.1", "1.2.3.4, 203.0.113.7"), 1)).toBe("203.0.113.7");
		expect(clientIp(requestFrom("127.0.0.1", "5.6.7.8, 203.0.113.7"), 1)).toBe("203.0.113.7");
	});

	test("repeated X-Forwarded-For headers are one list, in order", () => {
		expect(clientIp(requestFrom("127.0.0.1", ["6.6.6.6", "1.1.1.1, 10.0.0.2"]), 2)).toBe("1.1.1.1");
	});

	test("one spelling per address", () => {
		expect(normalizeAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
		expect(normalizeAddress(" 203.0.113.7:51234 ")).toBe("203.0.113.7");
		expect(normalizeAddress("[2001:DB8::1]:443")).toBe("2001:db8::1");
		expect(normalizeAddress("2001:db8::1")).toBe("2001:db8::1");
		expect(normalizeAddress("x".repeat(500))).toHaveLength(64);
		expect(normalizeAddress("")).toBe("unknown");
		expect(clientIp(requestFrom(undefined), 0)).toBe("unknown");
	});
});

describe("MemoryWindowStore: fixed windows, bounded", () => {
	function store(maxKeys = 100) {
		const clock = { now: 1_000 };
		return { clock, counters: new MemoryWindowStore(60_000, maxKeys, () => clock.now) };
	}

	test("a window counts its hits, tells when it ends, and starts again from 0 after it", () => {
		const { clock, counters } = store();
		expect(counters.hitNow("a")).toEqual({ count: 1, resetInMs: 60_000 });
		clock.now += 10_000;
		expect(counters.hitNow("a")).toEqual({ count: 2, resetInMs: 50_000 });
		expect(counters.hitNow("b")).toEqual({ count: 1, resetInMs: 60_000 });
		clock.now += 49_999;
		expect(counters.hitNow("a")).toEqual({ count: 3, resetInMs: 1 });
		clock.now += 1;
		expect(counters.hitNow("a")).toEqual({ count: 1, resetInMs: 60_000 });
	});

	test("peek reads without counting", async () => {
		const { counters } = store();
		expect(await counters.peek("a")).toEqual({ count: 0, resetInMs: 60_000 });
		counters.hitNow("a");
		expect(await counters.peek("a")).toEqual({ count: 1, resetInMs: 60_000 });
		expect(await counters.peek("a")).toEqual({ count: 1, resetInMs: 60_000 });
	});

	test("ended windows are dropped: memory follows the clients of the last minute, not of all time", () => {
		const { clock, counters } = store(1_000_000);
		for (let i = 0; i < 500; i++) counters.hitNow(`old-${i}`);
		expect(counters.size).toBe(500);
		clock.now += 60_000;
		counters.hitNow("new");
		expect(counters.size).toBe(1);
	});

	test("past maxKeys the oldest window goes first", () => {
		const { clock, counters } = store(3);
		for (const key of ["a", "b", "c"]) {
			counters.hitNow(key);
			clock.now += 1;
		}
		counters.hitNow("d");
		expect(counters.size).toBe(3);
		// "a" was dropped: it starts again from 1; "b" kept its count
		expect(counters.hitNow("b").count).toBe(2);
		expect(counters.hitNow("a").count).toBe(1);
	});
});
