/**
 * Typed errors, each carrying its HTTP status. The gateway renders any MoleculerError as
 * `{ name, message, code, type, data }`; nothing here ever carries a stack to the client.
 */
import { Errors } from "moleculer";

export interface FieldError {
	type: string;
	field: string;
	message: string;
	actual?: unknown;
}

/** 422 with one entry per failing field, the same shape fastest-validator produces. */
export class FieldValidationError extends Errors.ValidationError {
	constructor(errors: FieldError[]) {
		super("Parameters validation error!", "VALIDATION_ERROR", errors);
		this.name = "ValidationError";
	}
}

export class EntityNotFoundError extends Errors.MoleculerClientError {
	constructor(entity: "Client" | "Goal", id: number) {
		super(`${entity} ${id} not found`, 404, "NOT_FOUND", { entity, id });
		this.name = "NotFoundError";
	}
}

export class ConflictError extends Errors.MoleculerClientError {
	constructor(message: string, data: Record<string, unknown>) {
		super(message, 409, "CONFLICT", data);
		this.name = "ConflictError";
	}
}

const DEPENDENCY_UNAVAILABLE = "SERVICE_UNAVAILABLE";

/** 503: a service we need cannot answer and we have no local knowledge to fall back on. */
export class DependencyUnavailableError extends Errors.MoleculerRetryableError {
	constructor(message: string, data: Record<string, unknown>) {
		super(message, 503, DEPENDENCY_UNAVAILABLE, data);
		this.name = "ServiceUnavailableError";
	}
}

/**
 * An Error by its shape, not by `instanceof`: Node's own socket errors (ECONNREFUSED,
 * ECONNRESET) come from another realm's Error under jest's module sandbox, where `instanceof
 * Error` is false, and a database outage then read as an unknown error (500) in tests only.
 */
function isErrorLike(err: unknown): err is Error {
	return typeof err === "object" && err !== null && typeof (err as Error).name === "string" && typeof (err as Error).message === "string";
}

/**
 * Errors that mean "the database cannot be reached right now" (not "the query is wrong"):
 * Sequelize's connection errors, PostgreSQL's admin-shutdown / cannot-connect-now / connection
 * exception codes (57P01-57P03, class 08), its insufficient-resources class 53 (53300 "too many
 * clients already": a server whose connections other programs took is unavailable to us, a
 * 503, not a 500) and socket errors for a connection cut by a restart.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
	if (!isErrorLike(err)) return false;
	if (err.name.startsWith("SequelizeConnection") || err.name === "SequelizeHostNotReachableError") return true;
	const cause = err as Error & { code?: unknown; parent?: { code?: unknown } };
	const code = cause.parent?.code ?? cause.code;
	if (typeof code === "string" && /^(57P0[123]|08|53|ECONNREFUSED|ECONNRESET|EPIPE)/.test(code)) return true;
	// pg's own words for a connection cut under a query, a pool that cannot connect in time, or a
	// statement on a connection that died without a word (no code on any of them)
	return /Connection terminated|connection is closed|timeout exceeded when trying to connect|not queryable|Query read timeout/i.test(err.message);
}

/**
 * 503 for a database that cannot be reached: a fault of ours, never the caller's. The driver's
 * message (host, port, database name) stays on this node: it is `cause`, which is neither
 * serialised across the transporter nor shown over HTTP, and never `data`.
 */
export class DatabaseUnavailableError extends DependencyUnavailableError {
	override readonly cause: Error;

	constructor(cause: Error) {
		super("The database is unavailable", {});
		this.cause = cause;
	}
}

/**
 * PostgreSQL's data exceptions (SQLSTATE class 22: a value too long for its column, a NUL in
 * text, a number out of range, a malformed value): the request carried a value the database
 * cannot hold. Validation refuses every one we know of first; this is the safety net, so that
 * one we missed is the caller's 422, never a 500. On the error itself (pg) or Sequelize's `parent`.
 */
export function isInvalidData(err: unknown): boolean {
	if (!(err instanceof Error)) return false;
	const cause = err as Error & { code?: unknown; parent?: { code?: unknown } };
	const code = cause.parent?.code ?? cause.code;
	return typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code);
}

/** 422 for a value the database refused (isInvalidData): without the driver's words, which quote SQL and values. */
export class InvalidDataError extends FieldValidationError {
	constructor() {
		super([{ type: "invalidData", field: "request", message: "A value in the request cannot be stored: it is too long, out of range or malformed." }]);
	}
}

/**
 * 405: the path exists but not with this method (or an OPTIONS that is no allowed CORS
 * preflight). The gateway answers it itself, with `Allow`; no action runs.
 */
export class MethodNotAllowedError extends Errors.MoleculerClientError {
	constructor(method: string, allow: readonly string[]) {
		super(`Method ${method} is not allowed here`, 405, "METHOD_NOT_ALLOWED", { method, allow });
		this.name = "MethodNotAllowedError";
	}
}

/**
 * 503: too many writes are waiting for the database (a full queue, or a write that waited
 * longer than its bound for its turn). Nothing was written; the caller may try again.
 */
export class DatabaseBusyError extends DependencyUnavailableError {
	constructor(reason: string) {
		super(`The database is busy: ${reason}`, {});
	}
}

/**
 * 503: the circuit to a service is open, so the call was not made. Retryable, so `isUnavailable`
 * treats it like any other "could not answer".
 */
export class CircuitOpenError extends Errors.MoleculerRetryableError {
	constructor(target: string, retryInMs: number) {
		super(`Circuit to '${target}' is open: not called`, 503, "CIRCUIT_OPEN", { target, retryInMs });
		this.name = "CircuitOpenError";
	}
}

/**
 * 429: too many requests (RATE_LIMIT), or too many failed admin attempts, from one client IP in
 * the current window. The gateway also sends `Retry-After` with the same number of seconds.
 */
export class RateLimitedError extends Errors.MoleculerClientError {
	constructor(retryAfterSeconds: number) {
		super(`Too many requests: retry after ${retryAfterSeconds} s`, 429, "RATE_LIMITED", { retryAfter: retryAfterSeconds });
		this.name = "RateLimitedError";
	}
}

/**
 * `scheme://user:password@` in any text, password masked: `amqp://guest:***@host`. Works on
 * text that is no valid URL too (a refused value is often not one), and on a password holding
 * an unencoded `@` (everything up to the last `@` before the host is masked).
 */
export function redactCredentials(text: string): string {
	return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/'"]*):([^\s'"]*)@/gi, "$1$2:***@");
}

/** Invalid configuration: names the variable and what it should look like, never a password it holds. */
export class ConfigError extends Errors.MoleculerError {
	constructor(variable: string, problem: string) {
		super(`Invalid configuration ${variable}: ${redactCredentials(problem)}`, 500, "INVALID_CONFIG", { variable });
		this.name = "ConfigError";
	}
}

/**
 * Rebuilds errors that crossed the transporter. Moleculer's Regenerator knows only its own
 * classes by name; ours (NotFoundError, ConflictError, ServiceUnavailableError) would arrive as
 * plain Errors, which the gateway can only render as 500. Rebuilt as Moleculer errors of their
 * code's kind, keeping name, type and data, they keep their status on every node.
 */
export class AppErrorRegenerator extends Errors.Regenerator {
	override restoreCustomError(plain: Errors.PlainMoleculerError, payload: Record<string, unknown>): Error {
		const { name, message, code, type, data } = plain;
		// Moleculer's own names are restored by Moleculer (undefined hands them back to it)
		if (Object.hasOwn(Errors, name) || !Number.isInteger(code) || code < 400 || code > 599) {
			return super.restoreCustomError(plain, payload);
		}
		const err = plain.retryable
			? new Errors.MoleculerRetryableError(message, code, type, data)
			: code < 500
				? new Errors.MoleculerClientError(message, code, type, data)
				: new Errors.MoleculerServerError(message, code, type, data);
		err.name = name;
		return err;
	}
}

/**
 * Errors that mean "the other service could not answer", as opposed to "it answered no".
 * A 4xx from the other side is an answer; timeouts, missing nodes, open breakers and 5xx are not.
 */
export function isUnavailable(err: unknown): boolean {
	if (err instanceof Errors.MoleculerRetryableError) return true;
	if (err instanceof Errors.ServiceNotFoundError) return true;
	if (err instanceof Errors.MoleculerError) return err.code >= 500;
	return true;
}

/**
 * What a circuit breaker counts as a failure, saying "that service is in trouble": timeouts and
 * 5xx (and anything that is not a MoleculerError), never a 4xx, which is the service answering.
 * Nor a DependencyUnavailableError: "a service I need is down" is an answer too. Counted, a burst
 * of goal creations for unknown clients while the client service is down (503 each) opens
 * Moleculer's breaker for `goals.create` on the gateway node, and the gateway then refuses every
 * goal (moleculer-web checks the endpoint's state) until it half-opens.
 */
export function countsAgainstBreaker(err: unknown): boolean {
	if (err instanceof Errors.RequestTimeoutError) return true;
	// this node's own transporter was down: no endpoint's fault, and counting it could open the
	// breaker on a node's own local actions, whose half-open trial then never comes back
	if (err instanceof Errors.BrokerDisconnectedError) return false;
	if (!(err instanceof Errors.MoleculerError)) return true;
	// by type, not class: from another node it arrives rebuilt as a MoleculerRetryableError
	if (err.type === DEPENDENCY_UNAVAILABLE) return false;
	return err.code >= 500;
}

/**
 * 422 (internal action only): a snapshot page asked at a sequence beyond the producer's log.
 * Rows above the head may still be committing; a consumer passes back the first page's sequence.
 */
export class SnapshotAheadError extends Errors.MoleculerClientError {
	constructor(source: string, atSequence: number, head: number) {
		super(`The ${source} snapshot cannot be read at #${atSequence}: the log ends at #${head}`, 422, "SNAPSHOT_AHEAD", { atSequence, head });
		this.name = "SnapshotAheadError";
	}
}

/**
 * A consumed payload that failed its schema check (lib/domain/event-schema.ts): never applied,
 * kept as a dead letter with this message; an operator's retry of it fails the check again.
 */
export class InvalidEventError extends Errors.MoleculerError {
	constructor(problems: readonly string[]) {
		super(`The event failed its schema check: ${problems.join(" ")}`, 422, "INVALID_EVENT");
		this.name = "InvalidEventError";
	}
}

/**
 * A migration failed (lib/storage/migrate.ts): its transaction was rolled back, the database is
 * at the migration before, and the service does not start on a schema it was not written for.
 */
export class MigrationError extends Errors.MoleculerError {
	override readonly cause: Error;

	constructor(migration: string, cause: Error) {
		super(`Database migration ${migration} failed: ${redactCredentials(cause.message)}`, 500, "MIGRATION_FAILED", { migration });
		this.name = "MigrationError";
		this.cause = cause;
	}
}
