/**
 * The client's IP address, as far as the gateway can trust it: what the rate limiter and the
 * admin lockout count by.
 *
 * `trustedHops` (TRUST_PROXY) is the number of reverse proxies in front of the gateway. Each
 * appends the address it received the request from to X-Forwarded-For, so the address written
 * by the outermost trusted proxy is the `trustedHops`-th entry from the right (the TCP peer
 * being hop 0). Everything further left was written by the client and can be forged; with 0
 * hops the header is ignored altogether. With fewer entries than hops (a misconfiguration: fewer
 * proxies than TRUST_PROXY says) the leftmost entry is taken, as Express's `trust proxy` does.
 */
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";

/** Longest key we keep per client: an IPv6 address is at most 45 characters. */
const MAX_ADDRESS_LENGTH = 64;

/** One spelling per address: no IPv4-mapped prefix, no port, no brackets, lower case, bounded. */
export function normalizeAddress(raw: string): string {
	let address = raw.trim().toLowerCase();
	const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
	if (bracketed) address = bracketed[1];
	else if (/^[\d.]+:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(":"));
	if (address.startsWith("::ffff:") && isIP(address.slice(7)) === 4) address = address.slice(7);
	return address.slice(0, MAX_ADDRESS_LENGTH) || "unknown";
}

export function clientIp(req: IncomingMessage, trustedHops: number): string {
	const peer = normalizeAddress(req.socket.remoteAddress ?? "unknown");
	if (trustedHops <= 0) return peer;
	// Node joins repeated X-Forwarded-For headers with ", " into one string
	const header = req.headers["x-forwarded-for"];
	const forwarded = (Array.isArray(header) ? header.join(",") : (header ?? ""))
		.split(",")
		.map((entry) => entry.trim())
		.filter(Boolean);
	const chain = [...forwarded, peer];
	return normalizeAddress(chain[Math.max(0, chain.length - 1 - trustedHops)]);
}
