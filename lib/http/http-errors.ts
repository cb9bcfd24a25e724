/**
 * What an HTTP client sees of an error: `{ name, message, code, type, data }` and never a stack.
 * Client mistakes keep their 4xx; anything we did not anticipate is an opaque 500 (the gateway
 * logs its detail). `data` shows only what `PUBLIC_DATA` allows for the error's type, and
 * Moleculer's errors about reaching a service get fixed wording: no driver message, host, port
 * or node id leaves through an answer.
 */
import { Errors } from "moleculer";
import { type FieldError, isDatabaseUnavailable } from "../errors";

export interface PublicError {
	name: string;
	message: string;
	code: number;
	type: string;
	/** always present (null when there is nothing to show), as the contract's shape has it */
	data: unknown;
}

/** body-parser marks its errors with `type` and `status`. */
interface BodyParserError extends Error {
	type: string;
	status?: number;
	statusCode?: number;
}

const BODY_PARSER_ERRORS: Record<string, Omit<PublicError, "data">> = {
	"entity.parse.failed": { name: "BadRequestError", message: "Malformed JSON in request body", code: 400, type: "INVALID_JSON" },
	"entity.too.large": { name: "PayloadTooLargeError", message: "Request body is larger than 100 kB", code: 413, type: "PAYLOAD_TOO_LARGE" },
	"entity.verify.failed": { name: "BadRequestError", message: "Invalid request body", code: 400, type: "INVALID_REQUEST_BODY" },
	"request.aborted": { name: "BadRequestError", message: "Request aborted", code: 400, type: "REQUEST_ABORTED" },
	"request.size.invalid": { name: "BadRequestError", message: "Request size did not match Content-Length", code: 400, type: "INVALID_REQUEST_BODY" },
	"encoding.unsupported": { name: "UnsupportedMediaTypeError", message: "Unsupported content encoding", code: 415, type: "UNSUPPORTED_MEDIA_TYPE" },
	"charset.unsupported": { name: "UnsupportedMediaTypeError", message: "Unsupported charset", code: 415, type: "UNSUPPORTED_MEDIA_TYPE" },
};

const DEFAULT_TYPES: Record<number, string> = {
	400: "BAD_REQUEST",
	401: "UNAUTHORIZED",
	404: "NOT_FOUND",
	405: "METHOD_NOT_ALLOWED",
	409: "CONFLICT",
	413: "PAYLOAD_TOO_LARGE",
	422: "VALIDATION_ERROR",
	429: "RATE_LIMITED",
	503: "SERVICE_UNAVAILABLE",
};

/**
 * What `data` may show, by error type (the type survives the transporter; the class may not):
 * an allow-list, so that a detail nobody thought of — a driver's message, a host and port, a node
 * id — never reaches a client. A type not listed here shows no data at all; a new error type that
 * has something to tell the client adds its keys here. Validation errors are listed field by
 * field (`fieldErrors`).
 */
const PUBLIC_DATA: Record<string, readonly string[]> = {
	NOT_FOUND: ["entity", "id", "consumer"],
	CONFLICT: ["field", "email"],
	SERVICE_UNAVAILABLE: ["service", "clientId"],
	CIRCUIT_OPEN: ["retryInMs"],
	RATE_LIMITED: ["retryAfter"],
	METHOD_NOT_ALLOWED: ["method", "allow"],
	UNABLE_DECODE_PARAM: ["param"],
};

const UNAVAILABLE: PublicError = {
	name: "ServiceUnavailableError",
	message: "A needed service is unavailable",
	code: 503,
	type: "SERVICE_UNAVAILABLE",
	data: null,
};
const TIMED_OUT: PublicError = { name: "RequestTimeoutError", message: "The request timed out", code: 504, type: "REQUEST_TIMEOUT", data: null };

/**
 * Moleculer's own errors about reaching a service: each message names the action and the node
 * (`… on 'host-1234' node`) and each `data` holds the nodeID, so none is passed on as it is.
 */
const MOLECULER_REACH_ERRORS: Record<string, PublicError> = {
	SERVICE_NOT_FOUND: UNAVAILABLE,
	SERVICE_NOT_AVAILABLE: UNAVAILABLE,
	REQUEST_REJECTED: UNAVAILABLE,
	// this node's transporter is down (Moleculer's 502, a broker restart): nothing is reachable
	BAD_GATEWAY: UNAVAILABLE,
	// too many requests pending on this node: busy, not the caller's rate limit
	QUEUE_FULL: { ...UNAVAILABLE, message: "The service is busy" },
	REQUEST_TIMEOUT: TIMED_OUT,
	// the caller's deadline passed before a handler started: a timeout by another name
	REQUEST_SKIPPED: TIMED_OUT,
};

const INTERNAL: PublicError = { name: "InternalServerError", message: "Internal server error", code: 500, type: "INTERNAL_ERROR", data: null };

/** Plain values only: a nested object is where a driver's error or a config would hide. */
type Plain = string | number | boolean | null;
function isPlain(value: unknown): value is Plain | Plain[] {
	const plain = (item: unknown) => item === null || ["string", "number", "boolean"].includes(typeof item);
	return plain(value) || (Array.isArray(value) && value.every(plain));
}

function pick(source: unknown, keys: readonly string[]): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	if (typeof source !== "object" || source === null) return out;
	for (const key of keys) {
		const value = (source as Record<string, unknown>)[key];
		if (Object.hasOwn(source, key) && isPlain(value)) out[key] = value;
	}
	return out;
}

/**
 * Each failing field, with only the keys a client may see. fastest-validator reports unknown
 * keys as one "objectStrict" entry; each key becomes a field of its own.
 */
function fieldErrors(data: unknown): FieldError[] {
	if (!Array.isArray(data)) return [];
	return data.flatMap((entry: FieldError & { expected?: unknown }): FieldError[] => {
		if (entry?.type !== "objectStrict" || typeof entry.actual !== "string") {
			// named keys only: Moleculer adds nodeID and action to each entry. `actual` is the
			// caller's own value, `expected` the schema's.
			const { type, field, message, actual, expected } = entry ?? {};
			return [{ type, field, message, actual, ...(expected === undefined ? {} : { expected }) } as FieldError];
		}
		const parent = entry.field ? `${entry.field}.` : "";
		return entry.actual.split(", ").map((key) => ({
			type: "objectStrict",
			field: `${parent}${key}`,
			message: `The '${parent}${key}' field is not allowed.`,
		}));
	});
}

function publicData(err: Errors.MoleculerError): unknown {
	if (err instanceof Errors.ValidationError || err.type === "VALIDATION_ERROR") return fieldErrors(err.data);
	const keys = PUBLIC_DATA[err.type];
	if (!keys) return null;
	const shown = pick(err.data, keys);
	return Object.keys(shown).length > 0 ? shown : null;
}

export function toPublicError(err: unknown): PublicError {
	// body-parser's errors reach us wrapped by moleculer-web in a MoleculerError that keeps their
	// `type` and the parser's message, which quotes the body back: give our own wording instead
	const parserType = err instanceof Error ? (err as BodyParserError).type : undefined;
	if (typeof parserType === "string" && Object.hasOwn(BODY_PARSER_ERRORS, parserType)) {
		// `data` is part of the shape even with nothing to add (the body is not quoted back)
		return { ...BODY_PARSER_ERRORS[parserType], data: null };
	}
	if (err instanceof Errors.MoleculerError) {
		if (typeof err.type === "string" && Object.hasOwn(MOLECULER_REACH_ERRORS, err.type)) return { ...MOLECULER_REACH_ERRORS[err.type] };
		if (err instanceof Errors.ServiceNotFoundError || err instanceof Errors.ServiceNotAvailableError || err instanceof Errors.BrokerDisconnectedError) {
			return { ...UNAVAILABLE };
		}
		const code = Number.isInteger(err.code) && err.code >= 400 && err.code < 600 ? err.code : 500;
		if (code === 500) return { ...INTERNAL };
		return { name: err.name, message: err.message, code, type: err.type || DEFAULT_TYPES[code] || "ERROR", data: publicData(err) };
	}
	if (isDatabaseUnavailable(err)) return { ...UNAVAILABLE, message: "The database is unavailable" };
	return { ...INTERNAL };
}
