/**
 * The request id an HTTP request is known by (CONTRACT: every answer carries `X-Request-ID`, the
 * request's own if it sent a valid one, else a new one). moleculer-web takes the header as it
 * comes (any length, any characters, or `X-Correlation-ID` instead); it then becomes the id in
 * every log line and is echoed in the answer's header, so only a plain token is accepted: 1..128
 * characters of letters, digits and `._:-` (a UUID, a ULID, a trace id, a load balancer's id).
 * Anything else is replaced by Moleculer's own (a UUID, the root context's id). Pure.
 */
export const REQUEST_ID_HEADER = "x-request-id";
const VALID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's id if it sent exactly one valid one; undefined lets Moleculer make one. */
export function acceptedRequestId(header: string | string[] | undefined): string | undefined {
	return typeof header === "string" && VALID.test(header) ? header : undefined;
}
