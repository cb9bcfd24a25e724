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
 * Errors that mean "the database cannot be reached right now" (not "the query is wrong"):
 * Sequelize's connection errors, PostgreSQL's admin-shutdown / cannot-connect-now / connection
 * exception codes (57P01-57P03, class 08) and socket errors for a connection cut by a restart.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
	if (!(err instanceof Error)) return false;
	if (err.name.startsWith("SequelizeConnection") || err.name === "SequelizeHostNotReachableError") return true;
	const cause = err as Error & { code?: unknown; parent?: { code?: unknown } };
	const code = cause.parent?.code ?? cause.code;
	if (typeof code === "string" && /^(57P0[123]|08|ECONNREFUSED|ECONNRESET|EPIPE)/.test(code)) return true;
	// pg's own words for a connection cut under a query, a pool that cannot connect in time, or a
	// statement on a connection that died without a word (no code on any of them)
	return /Connection terminated|connection is closed|timeout exceeded when trying to connect|not queryable|Query read timeout/i.test(err.message);
}

/** 503 for a database that cannot be reached: a fault of ours, never the caller's. */
export class DatabaseUnavailableError extends DependencyUnavailableError {
	constructor(cause: Error) {
		super("The database is unavailable", { cause: cause.message });
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

/** Invalid configuration: names the variable and what it should look like. */
export class ConfigError extends Errors.MoleculerError {
	constructor(variable: string, problem: string) {
		super(`Invalid configuration ${variable}: ${problem}`, 500, "INVALID_CONFIG", { variable });
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
	if (!(err instanceof Errors.MoleculerError)) return true;
	// by type, not class: from another node it arrives rebuilt as a MoleculerRetryableError
	if (err.type === DEPENDENCY_UNAVAILABLE) return false;
	return err.code >= 500;
}
