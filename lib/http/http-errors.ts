/**
 * What an HTTP client sees of an error: `{ name, message, code, type, data }` and never a stack.
 * Client mistakes keep their 4xx; anything we did not anticipate is an opaque 500, logged here
 * with its detail.
 */
import { Errors } from "moleculer";
import { type FieldError, isDatabaseUnavailable } from "../errors";

export interface PublicError {
	name: string;
	message: string;
	code: number;
	type: string;
	data?: unknown;
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
	409: "CONFLICT",
	413: "PAYLOAD_TOO_LARGE",
	422: "VALIDATION_ERROR",
	429: "RATE_LIMITED",
	503: "SERVICE_UNAVAILABLE",
};

const INTERNAL: PublicError = { name: "InternalServerError", message: "Internal server error", code: 500, type: "INTERNAL_ERROR" };

/** fastest-validator reports unknown keys as one "objectStrict" entry; list each key as its own field. */
function expandStrictErrors(data: unknown): unknown {
	if (!Array.isArray(data)) return data;
	return data.flatMap((entry: FieldError & { expected?: unknown }): FieldError[] => {
		if (entry?.type !== "objectStrict" || typeof entry.actual !== "string") {
			// Moleculer adds nodeID and action to each entry: internal detail, not the client's business.
			const { type, field, message, actual, expected } = entry;
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

export function toPublicError(err: unknown): PublicError {
	// body-parser's errors reach us wrapped by moleculer-web in a MoleculerError that keeps their
	// `type` and the parser's message, which quotes the body back: give our own wording instead
	const parserType = err instanceof Error ? (err as BodyParserError).type : undefined;
	if (typeof parserType === "string" && Object.hasOwn(BODY_PARSER_ERRORS, parserType)) {
		return { ...BODY_PARSER_ERRORS[parserType] };
	}
	if (
		err instanceof Errors.ServiceNotFoundError ||
		err instanceof Errors.ServiceNotAvailableError ||
		// 502 in Moleculer: this node's transporter is down (a broker restart), so nothing is reachable
		err instanceof Errors.BrokerDisconnectedError
	) {
		return { name: "ServiceUnavailableError", message: "A needed service is unavailable", code: 503, type: "SERVICE_UNAVAILABLE" };
	}
	if (err instanceof Errors.MoleculerError) {
		const code = Number.isInteger(err.code) && err.code >= 400 && err.code < 600 ? err.code : 500;
		if (code === 500) return INTERNAL;
		const data = err instanceof Errors.ValidationError ? expandStrictErrors(err.data) : err.data;
		return { name: err.name, message: err.message, code, type: err.type || DEFAULT_TYPES[code] || "ERROR", data };
	}
	if (isDatabaseUnavailable(err)) {
		return { name: "ServiceUnavailableError", message: "The database is unavailable", code: 503, type: "SERVICE_UNAVAILABLE" };
	}
	return INTERNAL;
}
