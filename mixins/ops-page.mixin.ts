/**
 * The operations page on the gateway: `GET /ops/` answers the one static page of
 * lib/http/ops-page.ts (its script and style inline, allowed by hash in its
 * Content-Security-Policy). The page reads the public `/api/ready` and, with the token a person
 * types in, the admin dead-letter routes: this action serves the page and nothing else.
 */
import type { Context, ServiceSchema } from "moleculer";
import { OPS_HEADERS, OPS_HTML } from "../lib/http/ops-page";

type ResponseMeta = { $responseType?: string; $responseHeaders?: Record<string, string> };

// Content-Length set here: Node computes it only when it writes a body, and a HEAD answer must have its GET's
const HEADERS = { ...OPS_HEADERS, "Content-Length": String(Buffer.byteLength(OPS_HTML)) };

export function OpsPageMixin(): Partial<ServiceSchema> {
	return {
		actions: {
			ops: {
				handler(ctx: Context<unknown, ResponseMeta>): string {
					ctx.meta.$responseType = "text/html; charset=utf-8";
					ctx.meta.$responseHeaders = { ...HEADERS };
					return OPS_HTML;
				},
			},
		},
	};
}
