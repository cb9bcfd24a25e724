/**
 * Which requests reach a route, and how the gateway itself answers the others: a route answers
 * only its own method (CONTRACT.md). moleculer-web alone would not do that: it resolves an
 * `OPTIONS` request by its `Access-Control-Request-Method` header (and a plain `OPTIONS` as a
 * GET), so `OPTIONS /api/clients/1` with `Access-Control-Request-Method: DELETE` ran the DELETE,
 * from any web page a browser had open. Here:
 *
 * - every `OPTIONS` is answered by the gateway: an allowed CORS preflight (origin in
 *   CORS_ORIGINS, a method the path has) is 204 with the CORS headers, anything else 405, and
 *   404 on an unknown path; none of them reaches an action;
 * - `HEAD` is the path's `GET` without a body (Node sends no body with a HEAD answer);
 * - any other method the path does not have is 405 with `Allow`; unknown paths are left to
 *   moleculer-web, which answers 404.
 *
 * Actual requests from an allowed origin get Access-Control-Allow-Origin; requests from another
 * origin are served without CORS headers, so a browser keeps their answer from the page (and the
 * methods that could change anything need a preflight first, which is refused).
 */

/** Headers a browser may send on a cross-origin request (the request id and idempotency key are ours). */
export const CORS_ALLOWED_HEADERS = ["Content-Type", "Authorization", "X-Request-ID", "Idempotency-Key"] as const;
/** Headers a page may read from an answer besides the CORS-safelisted ones. */
export const CORS_EXPOSED_HEADERS = ["X-Request-ID", "Location"] as const;
/** Seconds a browser may keep a preflight's answer (Chromium caps it at 7200). */
export const CORS_MAX_AGE_S = 600;

/** The order methods are listed in, in `Allow` and `Access-Control-Allow-Methods`. */
const METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

export interface GateRequest {
	method: string;
	/** the `Origin` header, if any */
	origin?: string;
	/** the `Access-Control-Request-Method` header, if any */
	requestMethod?: string;
}

export type GateDecision =
	/** let the route answer, with these headers added */
	| { kind: "route"; headers: Record<string, string> }
	/** an allowed preflight: 204 with these headers */
	| { kind: "preflight"; headers: Record<string, string> }
	/** 405 with `Allow` */
	| { kind: "not-allowed"; allow: string[]; headers: Record<string, string> }
	/** 404: an OPTIONS on a path no route has */
	| { kind: "not-found"; headers: Record<string, string> };

/** The methods a path answers: its routes' methods, and HEAD wherever GET is. */
export function allowedMethods(routeMethods: Iterable<string>): string[] {
	const methods = new Set([...routeMethods].map((method) => method.toUpperCase()));
	if (methods.has("GET")) methods.add("HEAD");
	return [...methods].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function rank(method: string): number {
	const index = METHOD_ORDER.indexOf(method);
	return index === -1 ? METHOD_ORDER.length : index;
}

/**
 * Decide for one request. `routeMethods` are the methods of the routes whose path matches (empty:
 * no route has this path; "*" would mean any method, which our routes never use); `allowedOrigins`
 * is CORS_ORIGINS (empty: no CORS at all).
 */
export function decide(request: GateRequest, routeMethods: readonly string[], allowedOrigins: ReadonlySet<string>): GateDecision {
	const method = request.method.toUpperCase();
	const allowed = allowedMethods(routeMethods);
	const anyMethod = allowed.includes("*");
	const originAllowed = request.origin !== undefined && allowedOrigins.has(request.origin);
	// with CORS on, every answer depends on Origin: a cache must not hand one origin's to another
	const vary: Record<string, string> = allowedOrigins.size > 0 ? { Vary: "Origin" } : {};

	if (method === "OPTIONS") {
		if (allowed.length === 0) return { kind: "not-found", headers: vary };
		const requested = request.requestMethod?.trim().toUpperCase();
		if (originAllowed && requested && (anyMethod || allowed.includes(requested))) {
			return {
				kind: "preflight",
				headers: {
					...vary,
					"Access-Control-Allow-Origin": request.origin as string,
					"Access-Control-Allow-Methods": allowed.join(", "),
					"Access-Control-Allow-Headers": CORS_ALLOWED_HEADERS.join(", "),
					"Access-Control-Max-Age": String(CORS_MAX_AGE_S),
				},
			};
		}
		return { kind: "not-allowed", allow: allowed, headers: vary };
	}

	const cors: Record<string, string> = originAllowed
		? { ...vary, "Access-Control-Allow-Origin": request.origin as string, "Access-Control-Expose-Headers": CORS_EXPOSED_HEADERS.join(", ") }
		: vary;
	// an unknown path is moleculer-web's to answer (404), and so is a method the path has
	if (allowed.length === 0 || anyMethod || allowed.includes(method)) return { kind: "route", headers: cors };
	return { kind: "not-allowed", allow: allowed, headers: cors };
}
