/**
 * A consumer engine's report that says nothing (the engine's own tests), with the callbacks a
 * test listens to given in `overrides`.
 */
import type { ConsumerReport } from "../../lib/consumer/engine";

export function quietReport(overrides: Partial<ConsumerReport> = {}): ConsumerReport {
	const quiet = () => undefined;
	return {
		applied: quiet,
		stale: quiet,
		failed: quiet,
		retried: quiet,
		deadLettered: quiet,
		caughtUp: quiet,
		catchUpRun: quiet,
		propagation: quiet,
		info: quiet,
		warn: quiet,
		error: quiet,
		...overrides,
	};
}
