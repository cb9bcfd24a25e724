import { Errors } from "moleculer";
import { CircuitBreaker, type CircuitState } from "../../lib/infra/circuit-breaker";
import { CircuitOpenError, countsAgainstBreaker, DependencyUnavailableError, EntityNotFoundError, FieldValidationError } from "../../lib/errors";

const SETTINGS = { threshold: 0.5, minRequestCount: 5, windowMs: 20_000, halfOpenMs: 5_000 };

function setUp() {
	let now = 1_000_000;
	const changes: CircuitState[] = [];
	const breaker = new CircuitBreaker("clients.lookup", {
		...SETTINGS,
		counts: countsAgainstBreaker,
		onChange: (state) => changes.push(state),
		now: () => now,
	});
	const calls = { made: 0 };
	const call = (outcome: unknown) =>
		breaker.run(async () => {
			calls.made++;
			if (outcome instanceof Error) throw outcome;
			return outcome;
		});
	return { breaker, changes, calls, call, advance: (ms: number) => (now += ms) };
}

const timeout = () => new Errors.RequestTimeoutError({ action: "clients.lookup", nodeID: "clients-1" });
const serverError = () => new Errors.MoleculerServerError("boom", 500, "BOOM");

async function failTimes(call: (outcome: unknown) => Promise<unknown>, err: () => Error, times: number) {
	for (let i = 0; i < times; i++) await expect(call(err())).rejects.toThrow();
}

describe("countsAgainstBreaker", () => {
	test.each([
		["a timeout", timeout(), true],
		["a 5xx", serverError(), true],
		["a 503 (node declared gone)", new Errors.RequestRejectedError({ action: "clients.lookup", nodeID: "clients-1" }), true],
		["a non-Moleculer error", new TypeError("x"), true],
		["a validation error (422)", new FieldValidationError([]), false],
		['our 503 "a service I need is down" (an answer)', new DependencyUnavailableError("clients down", {}), false],
		["a not found (404)", new EntityNotFoundError("Client", 1), false],
		["no endpoint at all (404, already fast)", new Errors.ServiceNotAvailableError({ action: "clients.lookup" }), false],
		["this node's transporter down (502)", Reflect.construct(Errors.BrokerDisconnectedError, []) as Error, false],
	])("%s: %s", (_name, err, counts) => expect(countsAgainstBreaker(err)).toBe(counts));
});

describe("CircuitBreaker", () => {
	test("4xx answers and null results never open it", async () => {
		const { breaker, calls, call } = setUp();
		for (let i = 0; i < 10; i++) {
			await expect(call(null)).resolves.toBeNull();
			await expect(call(new FieldValidationError([]))).rejects.toThrow(FieldValidationError);
			await expect(call(new EntityNotFoundError("Client", i + 1))).rejects.toThrow(EntityNotFoundError);
		}
		expect(breaker.state).toBe("closed");
		expect(calls.made).toBe(30);
	});

	test.each([
		["timeouts", timeout],
		["5xx", serverError],
	])("%s open it at the threshold; open, it fails at once without calling", async (_name, err) => {
		const { breaker, changes, calls, call } = setUp();
		await failTimes(call, err, 4);
		expect(breaker.state).toBe("closed");
		await failTimes(call, err, 1);
		expect(breaker.state).toBe("open");
		expect(changes).toEqual(["open"]);

		await expect(call("alive")).rejects.toThrow(CircuitOpenError);
		expect(calls.made).toBe(5);
	});

	test("below the threshold share it stays closed; reaching it opens", async () => {
		const { breaker, call } = setUp();
		for (const outcome of ["a", "b", "c"]) await call(outcome);
		await failTimes(call, timeout, 2);
		expect(breaker.state).toBe("closed"); // 2 of 5
		await failTimes(call, timeout, 1);
		expect(breaker.state).toBe("open"); // 3 of 6
	});

	test("failures of an old window do not count", async () => {
		const { breaker, call, advance } = setUp();
		await failTimes(call, timeout, 4);
		advance(SETTINGS.windowMs);
		await failTimes(call, timeout, 4);
		expect(breaker.state).toBe("closed");
		await failTimes(call, timeout, 1);
		expect(breaker.state).toBe("open");
	});

	test("half-open lets one probe through; an answer closes it", async () => {
		const { breaker, changes, calls, call, advance } = setUp();
		await failTimes(call, timeout, 5);
		advance(SETTINGS.halfOpenMs - 1);
		await expect(call("x")).rejects.toThrow(CircuitOpenError);
		advance(1);
		expect(breaker.state).toBe("half-open");

		let answer!: (value: string) => void;
		const probe = breaker.run(() => new Promise<string>((resolve) => (answer = resolve)));
		await expect(call("concurrent")).rejects.toThrow(CircuitOpenError); // only one probe
		answer("alive");
		await expect(probe).resolves.toBe("alive");
		expect(breaker.state).toBe("closed");
		expect(changes).toEqual(["open", "half-open", "closed"]);

		// closed again with a fresh count: one more failure does not reopen it
		await failTimes(call, timeout, 1);
		expect(breaker.state).toBe("closed");
		expect(calls.made).toBe(6);
	});

	test("a 4xx probe is an answer too: it closes", async () => {
		const { breaker, call, advance } = setUp();
		await failTimes(call, serverError, 5);
		advance(SETTINGS.halfOpenMs);
		await expect(call(new FieldValidationError([]))).rejects.toThrow(FieldValidationError);
		expect(breaker.state).toBe("closed");
	});

	test("a failed probe opens it again for another half-open time", async () => {
		const { breaker, changes, call, advance } = setUp();
		await failTimes(call, timeout, 5);
		advance(SETTINGS.halfOpenMs);
		await failTimes(call, timeout, 1);
		expect(breaker.state).toBe("open");
		advance(SETTINGS.halfOpenMs - 1);
		await expect(call("x")).rejects.toThrow(CircuitOpenError);
		advance(1);
		await expect(call("alive")).resolves.toBe("alive");
		expect(changes).toEqual(["open", "half-open", "open", "half-open", "closed"]);
	});

	test("calls still in flight when it opened do not change it", async () => {
		const { breaker, call } = setUp();
		let late!: (value: string) => void;
		const inFlight = breaker.run(() => new Promise<string>((resolve) => (late = resolve)));
		await failTimes(call, timeout, 5);
		expect(breaker.state).toBe("open");
		late("late answer");
		await expect(inFlight).resolves.toBe("late answer");
		expect(breaker.state).toBe("open");
	});
});
