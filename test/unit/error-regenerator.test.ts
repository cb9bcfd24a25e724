import { Errors, ServiceBroker } from "moleculer";
import { AppErrorRegenerator, ConflictError, DependencyUnavailableError, EntityNotFoundError, FieldValidationError } from "../../lib/errors";
import { toPublicError } from "../../lib/http/http-errors";

/** An error as it leaves one node and is rebuilt on another. */
function crossTheWire(err: Error): Error {
	const regenerator = new AppErrorRegenerator();
	regenerator.init(new ServiceBroker({ logger: false, nodeID: "receiver" }));
	const plain = regenerator.extractPlainError(err);
	return regenerator.restore(JSON.parse(JSON.stringify(plain)), { sender: "sender" });
}

describe("AppErrorRegenerator: our errors keep their status across nodes", () => {
	test.each([
		["NotFoundError", new EntityNotFoundError("Client", 7), 404, Errors.MoleculerClientError],
		["ConflictError", new ConflictError("Email taken", { field: "email" }), 409, Errors.MoleculerClientError],
		["ServiceUnavailableError", new DependencyUnavailableError("clients down", { service: "clients" }), 503, Errors.MoleculerRetryableError],
	])("%s", (name, original, code, kind) => {
		const restored = crossTheWire(original) as Errors.MoleculerError;
		expect(restored).toBeInstanceOf(kind);
		expect([restored.name, restored.message]).toEqual([name, original.message]);
		expect(restored).toMatchObject({ code, type: original.type, data: original.data });
		expect(toPublicError(restored).code).toBe(code);
	});

	test("Moleculer's own errors are still Moleculer's classes", () => {
		expect(crossTheWire(new FieldValidationError([]))).toBeInstanceOf(Errors.ValidationError);
		expect(crossTheWire(new Errors.RequestTimeoutError({ action: "a", nodeID: "n" }))).toBeInstanceOf(Errors.RequestTimeoutError);
	});

	test("an error without an HTTP status stays a plain error (an opaque 500 at the gateway)", () => {
		const restored = crossTheWire(new TypeError("boom"));
		expect(restored).not.toBeInstanceOf(Errors.MoleculerError);
		expect(toPublicError(restored).code).toBe(500);
	});
});
