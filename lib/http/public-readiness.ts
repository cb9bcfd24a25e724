/**
 * What `GET /api/ready` shows of a component that is DOWN. The probes (lib/infra/readiness.ts)
 * keep the reason in words — a driver's or a client library's error message, which names hosts,
 * ports and databases (`connect ECONNREFUSED 10.0.0.5:5432`) — and those words are for the
 * node's log, not for whoever can reach the gateway. Every free-text field (`message`, `error`)
 * of the answer is replaced by a fixed pointer to the log; the details are handed back to be
 * logged. Statuses, types, dialects, queue depths and counts stay as they are.
 */

/** Keys whose string values are free text from somewhere else. */
const FREE_TEXT = new Set(["message", "error"]);

export const SEE_THE_LOG = "unavailable: see this node's log";

export interface PublicReadiness<T> {
	/** the answer, with every free-text field replaced */
	answer: T;
	/** what was replaced, `<path>: <text>` each, for the log */
	details: string[];
}

export function publicReadiness<T>(readiness: T): PublicReadiness<T> {
	const details: string[] = [];
	const visit = (value: unknown, path: string): unknown => {
		if (Array.isArray(value)) return value.map((item, index) => visit(item, `${path}[${index}]`));
		if (typeof value !== "object" || value === null) return value;
		const out: Record<string, unknown> = {};
		for (const [key, item] of Object.entries(value)) {
			const at = path ? `${path}.${key}` : key;
			if (FREE_TEXT.has(key) && typeof item === "string") {
				details.push(`${at}: ${item}`);
				out[key] = SEE_THE_LOG;
			} else {
				out[key] = visit(item, at);
			}
		}
		return out;
	};
	return { answer: visit(readiness, "") as T, details };
}
