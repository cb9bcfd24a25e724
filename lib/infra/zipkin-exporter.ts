/**
 * Moleculer's Zipkin exporter, with trace ids a Zipkin collector accepts whatever the request id.
 *
 * Moleculer's trace id is the request id (`ctx.requestID`), and ours is the client's own
 * `X-Request-ID` when it sent a valid one (lib/http/request-id.ts): any token of letters, digits
 * and `._:-`. Moleculer's exporter only strips dashes and keeps 16 characters, which for
 * `order-42.retry` gives `order42.retry`: not hex, refused by Zipkin and Jaeger, and the whole
 * trace is lost. Here an id that is not hex is hashed to 16 hex digits (the same id always to the
 * same digits, so every span of the request stays in one trace). The request id itself is kept
 * as each span's `requestID` tag, so the trace can be found by it.
 */
import { createHash } from "node:crypto";
import { TracerExporters } from "moleculer";

const HEX_ID = /^[0-9a-f]{16,}$/i;

/** A Moleculer id (a UUID) or a request id, as a Zipkin id: 16 hex digits, or null for none. */
export function zipkinId(id: string | null | undefined): string | null {
	if (!id) return null;
	const plain = id.replace(/-/g, "");
	if (HEX_ID.test(plain)) return plain.slice(0, 16).toLowerCase();
	return createHash("sha256").update(id).digest("hex").slice(0, 16);
}

export class HexIdZipkinExporter extends TracerExporters.Zipkin {
	override convertID(id: string): string {
		// Moleculer's own answers null for no id (a root span's parent); its typings say string
		return zipkinId(id) as string;
	}
}
