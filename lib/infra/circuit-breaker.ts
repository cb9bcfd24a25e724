/**
 * A circuit breaker around one kind of remote call, held by the caller: the goal service's
 * client check (`clients.lookup`).
 *
 * Why not Moleculer's own breaker (moleculer.config.ts `circuitBreaker`): in 0.15 it does not
 * work for this call in a cluster.
 * - The Timeout middleware wraps the CircuitBreaker middleware (INTERNAL_MIDDLEWARES order), so
 *   the caller's RequestTimeoutError never reaches the breaker: it only sees the transit promise,
 *   which settles only if the hung node ever answers (late, and then usually as a success).
 *   Timeouts never open it.
 * - With `disableBalancer` (needed for our event queues) `broker.call` takes the first endpoint
 *   whatever its state, so even an open breaker would not spare this call its timeout.
 * Fixing both means re-listing every internal middleware in a new order plus a guard middleware
 * for the endpoint state, for every call in the system; this class is the smaller change.
 *
 * Semantics follow Moleculer's breaker: in a window, once `minRequestCount` calls were made and
 * the share of counted failures reaches `threshold`, the circuit opens; open, calls fail at once
 * with CircuitOpenError; after `halfOpenMs` one probe passes (the others still fail at once) and
 * its outcome closes the circuit or opens it again. Only what `counts` says is trouble (timeouts,
 * 5xx) is a failure: a 4xx is an answer, so the service is up.
 */
import { CircuitOpenError } from "../errors";

export type CircuitState = "closed" | "open" | "half-open";

/** The numbers, shared with Moleculer's breaker in moleculer.config.ts. */
export interface BreakerSettings {
	/** share of failed calls in a window (0..1) that opens the circuit */
	threshold: number;
	/** calls a window needs before its failure share counts */
	minRequestCount: number;
	/** length of a counting window, in ms */
	windowMs: number;
	/** how long the circuit stays open before one probe may pass, in ms */
	halfOpenMs: number;
}

export interface BreakerOptions extends BreakerSettings {
	/** true if an error says "the other side is in trouble"; any other error is an answer */
	counts(err: unknown): boolean;
	/** every state change, for logs */
	onChange?(state: CircuitState, stats: { count: number; failures: number }): void;
	/** clock, for tests */
	now?(): number;
}

export class CircuitBreaker {
	private current: CircuitState = "closed";
	private windowStart = 0;
	private count = 0;
	private failures = 0;
	private openedAt = 0;
	private probing = false;
	private readonly now: () => number;

	constructor(
		/** what is called, for error messages */
		private readonly target: string,
		private readonly options: BreakerOptions,
	) {
		this.now = options.now ?? Date.now;
	}

	/** The state as the next call would see it (an open circuit whose time is up is half-open). */
	get state(): CircuitState {
		if (this.current === "open" && this.now() - this.openedAt >= this.options.halfOpenMs) return "half-open";
		return this.current;
	}

	/** Make `call` through the breaker; rejects with CircuitOpenError, without calling, while open. */
	async run<T>(call: () => Promise<T>): Promise<T> {
		if (this.state !== this.current) this.change("half-open");
		if (this.current === "open" || (this.current === "half-open" && this.probing)) {
			throw new CircuitOpenError(this.target, Math.max(0, this.openedAt + this.options.halfOpenMs - this.now()));
		}
		return this.current === "half-open" ? this.probe(call) : this.closedCall(call);
	}

	private async closedCall<T>(call: () => Promise<T>): Promise<T> {
		if (this.now() - this.windowStart >= this.options.windowMs) {
			this.windowStart = this.now();
			this.count = 0;
			this.failures = 0;
		}
		try {
			const result = await call();
			this.record(false);
			return result;
		} catch (err) {
			this.record(this.options.counts(err));
			throw err;
		}
	}

	/** Only the probe decides a half-open circuit: answered (even with a 4xx) closes, trouble reopens. */
	private async probe<T>(call: () => Promise<T>): Promise<T> {
		this.probing = true;
		try {
			const result = await call();
			this.close();
			return result;
		} catch (err) {
			if (this.options.counts(err)) this.open();
			else this.close();
			throw err;
		} finally {
			this.probing = false;
		}
	}

	/** Outcome of a call made while closed; calls still in flight when the circuit opened are ignored. */
	private record(failed: boolean): void {
		if (this.current !== "closed") return;
		this.count++;
		if (failed) this.failures++;
		if (this.count >= this.options.minRequestCount && this.failures / this.count >= this.options.threshold) this.open();
	}

	private open(): void {
		this.openedAt = this.now();
		this.change("open");
	}

	private close(): void {
		this.windowStart = this.now();
		this.count = 0;
		this.failures = 0;
		this.change("closed");
	}

	private change(state: CircuitState): void {
		this.current = state;
		this.options.onChange?.(state, { count: this.count, failures: this.failures });
	}
}
