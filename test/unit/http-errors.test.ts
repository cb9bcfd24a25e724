/**
 * lib/http/http-errors: what an HTTP client sees of any error: `{ name, message, code, type, data }`,
 * never a stack, never the detail of a 500, and body-parser's errors as the 4xx they are.
 */
import { Errors } from "moleculer";
import {
	CircuitOpenError,
	ConflictError,
	DatabaseUnavailableError,
	DependencyUnavailableError,
	EntityNotFoundError,
	FieldValidationError,
	MethodNotAllowedError,
} from "../../lib/errors";
import { toPublicError } from "../../lib/http/http-errors";

const PUBLIC_KEYS = ["code", "data", "message", "name", "type"];

/** An error as body-parser makes it: a plain Error with `type` and `status`. */
function bodyParserError(type: string, status: number, message: string): Error {
	return Object.assign(new Error(message), { type, status, statusCode: status, expose: true });
}

/** The same error after moleculer-web wrapped it (`new MoleculerError(err.message, err.status, err.type)`). */
function wrappedByGateway(type: string, status: number, message: string): Error {
	return new Errors.MoleculerError(message, status, type);
}

describe("no stack, only the public fields", () => {
	test.each<[string, unknown]>([
		["a 404", new EntityNotFoundError("Client", 5)],
		["a 409", new ConflictError("Email taken", { email: "a@example.com" })],
		["a 422", new FieldValidationError([{ type: "required", field: "name", message: "The 'name' field is required." }])],
		["a 500 MoleculerError", new Errors.MoleculerError("db exploded", 500)],
		["a plain Error", new Error("oops")],
		["a TypeError", new TypeError("Cannot read properties of undefined")],
		["a string", "just a string"],
		["undefined", undefined],
		["a body-parser error", bodyParserError("entity.parse.failed", 400, "Unexpected token")],
	])("%s", (_what, err) => {
		const pub = toPublicError(err);
		expect(PUBLIC_KEYS).toEqual(expect.arrayContaining(Object.keys(pub)));
		expect(pub).not.toHaveProperty("stack");
		const json = JSON.stringify(pub);
		expect(json).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
		expect(json).not.toContain(__filename);
		expect(Number.isInteger(pub.code)).toBe(true);
	});
});

describe("500: the message is hidden", () => {
	test.each<[string, unknown]>([
		["a MoleculerError with code 500", new Errors.MoleculerError("password=hunter2 in connection string", 500)],
		["a MoleculerServerError", new Errors.MoleculerServerError("SQLITE_CORRUPT at /srv/data/clients.sqlite", 500, "DB")],
		["a MoleculerError with a nonsense code", new Errors.MoleculerError("secret detail", 999)],
		["a MoleculerError with a 3xx code", new Errors.MoleculerError("secret detail", 302)],
		["a plain Error", new Error("secret detail")],
		["a thrown string", "secret detail"],
		["null", null],
	])("%s", (_what, err) => {
		expect(toPublicError(err)).toEqual({ name: "InternalServerError", message: "Internal server error", code: 500, type: "INTERNAL_ERROR", data: null });
	});
});

describe("client errors keep their status, name, type and data", () => {
	test("404 not found", () => {
		expect(toPublicError(new EntityNotFoundError("Client", 5))).toEqual({
			name: "NotFoundError",
			message: "Client 5 not found",
			code: 404,
			type: "NOT_FOUND",
			data: { entity: "Client", id: 5 },
		});
	});

	test("409 conflict", () => {
		expect(toPublicError(new ConflictError("Email taken", { email: "a@example.com" }))).toMatchObject({
			name: "ConflictError",
			code: 409,
			type: "CONFLICT",
			data: { email: "a@example.com" },
		});
	});

	test("a 4xx without a type gets the default type of its status", () => {
		expect(toPublicError(new Errors.MoleculerClientError("Too many", 429))).toMatchObject({ code: 429, type: "RATE_LIMITED" });
		expect(toPublicError(new Errors.MoleculerClientError("Teapot", 418))).toMatchObject({ code: 418, type: "ERROR" });
	});

	test("422: each failing field, without the nodeID and action Moleculer adds", () => {
		const err = new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [
			{ type: "required", field: "name", message: "The 'name' field is required.", actual: undefined, nodeID: "n1", action: "clients.create" },
			{ type: "email", field: "email", message: "bad email", actual: "x", expected: "email", nodeID: "n1", action: "clients.create" },
		]);
		const pub = toPublicError(err);
		expect(pub).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
		expect(pub.data).toEqual([
			{ type: "required", field: "name", message: "The 'name' field is required.", actual: undefined },
			{ type: "email", field: "email", message: "bad email", actual: "x", expected: "email" },
		]);
		expect(JSON.stringify(pub)).not.toMatch(/nodeID|clients\.create/);
	});

	test("422: unknown fields are listed one by one", () => {
		const err = new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [
			{ type: "objectStrict", message: "The object '' contains forbidden keys: 'foo, bar'.", actual: "foo, bar", field: undefined },
			{ type: "objectStrict", message: "nested", actual: "baz", field: "meta" },
		]);
		expect(toPublicError(err).data).toEqual([
			{ type: "objectStrict", field: "foo", message: "The 'foo' field is not allowed." },
			{ type: "objectStrict", field: "bar", message: "The 'bar' field is not allowed." },
			{ type: "objectStrict", field: "meta.baz", message: "The 'meta.baz' field is not allowed." },
		]);
	});
});

describe("503: a needed service is unavailable", () => {
	test.each<[string, Error]>([
		["service not found", new Errors.ServiceNotFoundError({ action: "clients.get", nodeID: "n1" })],
		["service not available", new Errors.ServiceNotAvailableError({ action: "clients.get", nodeID: "n1" })],
		[
			"this node's transporter disconnected (Moleculer's 502)",
			new Errors.BrokerDisconnectedError("The broker's transporter has disconnected.", 502, "BAD_GATEWAY"),
		],
	])("%s, without naming actions or nodes", (_what, err) => {
		const pub = toPublicError(err);
		expect(pub).toEqual({ name: "ServiceUnavailableError", message: "A needed service is unavailable", code: 503, type: "SERVICE_UNAVAILABLE", data: null });
	});

	test.each<[string, Error & { parent?: { code: string } }]>([
		[
			"an admin shutdown cut the query (57P01)",
			Object.assign(new Error("terminating connection due to administrator command"), { name: "SequelizeDatabaseError", parent: { code: "57P01" } }),
		],
		["pg's own words for a cut connection", new Error("Connection terminated unexpectedly")],
		["the pg pool could not connect in time", new Error("timeout exceeded when trying to connect")],
		["a statement on a connection that died without a word", new Error("Query read timeout")],
		["a pg client after its connection failed", new Error("Client has encountered a connection error and is not queryable")],
		["a raw pg error with PostgreSQL's code (57P01)", Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" })],
	])("a database restart: %s", (_what, err) => {
		expect(toPublicError(err)).toMatchObject({ code: 503, message: "The database is unavailable" });
	});

	test("the database connection is down", () => {
		const err = new Error("connect ECONNREFUSED 10.0.0.5:5432");
		err.name = "SequelizeConnectionRefusedError";
		expect(toPublicError(err)).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE", message: "The database is unavailable" });
	});
});

describe("body-parser errors map to 4xx with our own wording (the parser's message quotes the body)", () => {
	const secretBody = '{"name": "Ann", "password": "hunter2",}';
	test.each<[string, number, number, string]>([
		["entity.parse.failed", 400, 400, "INVALID_JSON"],
		["entity.too.large", 413, 413, "PAYLOAD_TOO_LARGE"],
		["entity.verify.failed", 403, 400, "INVALID_REQUEST_BODY"],
		["request.aborted", 400, 400, "REQUEST_ABORTED"],
		["request.size.invalid", 400, 400, "INVALID_REQUEST_BODY"],
		["encoding.unsupported", 415, 415, "UNSUPPORTED_MEDIA_TYPE"],
		["charset.unsupported", 415, 415, "UNSUPPORTED_MEDIA_TYPE"],
	])("%s (status %p) is %p %s, raw or wrapped by the gateway", (type, parserStatus, code, publicType) => {
		const message = `Unexpected token } in JSON at position 38: ${secretBody}`;
		for (const err of [bodyParserError(type, parserStatus, message), wrappedByGateway(type, parserStatus, message)]) {
			const pub = toPublicError(err);
			expect(pub).toMatchObject({ code, type: publicType });
			expect(pub.message).not.toContain("hunter2");
			expect(pub.message).not.toContain("Unexpected token");
		}
	});

	test("malformed JSON is a 400 BadRequestError, in the whole shape (data too)", () => {
		expect(toPublicError(bodyParserError("entity.parse.failed", 400, "Unexpected token"))).toEqual({
			name: "BadRequestError",
			message: "Malformed JSON in request body",
			code: 400,
			type: "INVALID_JSON",
			data: null,
		});
	});

	test("a body over the limit is a 413", () => {
		expect(toPublicError(wrappedByGateway("entity.too.large", 413, "request entity too large"))).toMatchObject({
			name: "PayloadTooLargeError",
			code: 413,
		});
	});

	test("an unknown `type` on a plain Error is not trusted: 500", () => {
		expect(toPublicError(bodyParserError("something.else", 400, "detail"))).toMatchObject({ code: 500 });
	});

	test("a type named like an Object.prototype member is not a body-parser type", () => {
		expect(toPublicError(bodyParserError("toString", 400, "detail"))).toMatchObject({ code: 500 });
		expect(toPublicError(bodyParserError("__proto__", 400, "detail"))).toMatchObject({ code: 500 });
	});
});

describe("data is an allow-list: no driver message, host, port or node id (issue 9, item 7)", () => {
	const driverError = Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432"), { name: "SequelizeConnectionRefusedError" });

	test("a database outage is a 503 without the driver's message", () => {
		const err = new DatabaseUnavailableError(driverError);
		expect(toPublicError(err)).toEqual({
			name: "ServiceUnavailableError",
			message: "The database is unavailable",
			code: 503,
			type: "SERVICE_UNAVAILABLE",
			data: null,
		});
		// kept on the error for this node's log, never in what is serialised or sent
		expect(err.cause).toBe(driverError);
		expect(JSON.stringify(err.data)).not.toContain("ECONNREFUSED");
	});

	test.each<[string, Error]>([
		["a request timeout (504)", new Errors.RequestTimeoutError({ action: "clients.get", nodeID: "vm-4242" })],
		["a request skipped for its timeout", new Errors.RequestSkippedError({ action: "clients.get", nodeID: "vm-4242" })],
	])("%s: fixed wording, no node, no action", (_what, err) => {
		const pub = toPublicError(err);
		expect(pub).toEqual({ name: "RequestTimeoutError", message: "The request timed out", code: 504, type: "REQUEST_TIMEOUT", data: null });
	});

	test.each<[string, Error]>([
		["a rejected request", new Errors.RequestRejectedError({ action: "clients.get", nodeID: "vm-4242" })],
		["a full request queue", new Errors.QueueIsFullError({ action: "clients.get", nodeID: "vm-4242", size: 100, limit: 100 })],
		[
			"a service missing on a node, rebuilt from another node as its type only",
			new Errors.MoleculerRetryableError("Service 'x' is not available on 'vm-4242' node.", 404, "SERVICE_NOT_AVAILABLE", { nodeID: "vm-4242" }),
		],
	])("%s: 503, no node, no action", (_what, err) => {
		const pub = toPublicError(err);
		expect(pub).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE", data: null });
		expect(JSON.stringify(pub)).not.toMatch(/vm-4242|clients\.get|nodeID/);
	});

	test("only the listed keys of a known type, and only plain values", () => {
		const err = new ConflictError("Email taken", {
			field: "email",
			email: "a@example.com",
			nodeID: "vm-4242",
			sql: "INSERT …",
			cause: { message: "SQLITE_CONSTRAINT" },
		});
		expect(toPublicError(err).data).toEqual({ field: "email", email: "a@example.com" });
		const nested = new EntityNotFoundError("Client", 5);
		(nested.data as Record<string, unknown>).id = { message: "relation clients does not exist" };
		expect(toPublicError(nested).data).toEqual({ entity: "Client" });
	});

	test("an error type nobody listed shows no data at all", () => {
		const err = new Errors.MoleculerClientError("Teapot", 418, "TEAPOT", { host: "10.0.0.5:5432", detail: "pg_hba.conf" });
		expect(toPublicError(err)).toEqual({ name: "MoleculerClientError", message: "Teapot", code: 418, type: "TEAPOT", data: null });
	});

	test("our own 503s keep what helps the caller", () => {
		expect(toPublicError(new DependencyUnavailableError("The goal service is unavailable", { service: "goals", nodeID: "vm-1" })).data).toEqual({
			service: "goals",
		});
		expect(toPublicError(new CircuitOpenError("clients.lookup", 1500)).data).toEqual({ retryInMs: 1500 });
	});

	test("405 names the method and what the path allows", () => {
		expect(toPublicError(new MethodNotAllowedError("PATCH", ["GET", "HEAD"]))).toEqual({
			name: "MethodNotAllowedError",
			message: "Method PATCH is not allowed here",
			code: 405,
			type: "METHOD_NOT_ALLOWED",
			data: { method: "PATCH", allow: ["GET", "HEAD"] },
		});
	});

	test("every answer has `data`, as the contract's shape has it", () => {
		for (const err of [new Error("x"), new EntityNotFoundError("Goal", 1), driverError, new Errors.MoleculerClientError("Gone", 410)]) {
			expect(Object.keys(toPublicError(err)).sort()).toEqual(PUBLIC_KEYS);
		}
	});
});
