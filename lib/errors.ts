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

/** 503: a service we need cannot answer and we have no local knowledge to fall back on. */
export class DependencyUnavailableError extends Errors.MoleculerRetryableError {
	constructor(message: string, data: Record<string, unknown>) {
		super(message, 503, "SERVICE_UNAVAILABLE", data);
		this.name = "ServiceUnavailableError";
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
 * Errors that mean "the other service could not answer", as opposed to "it answered no".
 * A 4xx from the other side is an answer; timeouts, missing nodes, open breakers and 5xx are not.
 */
export function isUnavailable(err: unknown): boolean {
	if (err instanceof Errors.MoleculerRetryableError) return true;
	if (err instanceof Errors.ServiceNotFoundError) return true;
	if (err instanceof Errors.MoleculerError) return err.code >= 500;
	return true;
}
