/**
 * What a node does on SIGTERM/SIGINT: stop gracefully once (in-flight work finishes, then the
 * databases and the transporter close) and exit 0, or 1 if stopping failed; a second signal while
 * that runs exits at once (130), for an operator who will not wait. "Second" means at least
 * `REPEAT_AFTER_MS` later: Ctrl-C on `npm start` reaches node twice at once (from the terminal to
 * the process group, and from npm, which forwards it), and that is one request to stop. The
 * process's exit, the broker and the clock are passed in, so the rule is tested without ending
 * the test's own process or waiting.
 */

/** a repeat sooner than this is the same signal delivered twice */
export const REPEAT_AFTER_MS = 1000;
export interface GracefulStopDeps {
	/** stop everything (heartbeat, broker); resolves once done */
	stopAll(): Promise<void>;
	info(message: string): void;
	warn(message: string): void;
	error(message: string, err: unknown): void;
	exit(code: number): void;
	now?: () => number;
}

/** The signal handler: call it with the signal's name. */
export function gracefulStop(deps: GracefulStopDeps): (signal: string) => Promise<void> {
	const now = deps.now ?? Date.now;
	let stoppingSince: number | null = null;
	return async (signal) => {
		if (stoppingSince !== null) {
			if (now() - stoppingSince < REPEAT_AFTER_MS) return;
			// what is not acked yet is redelivered to another replica
			deps.warn(`${signal} received again (a second signal): exiting now, without waiting for in-flight work.`);
			deps.exit(130);
			return;
		}
		stoppingSince = now();
		deps.info(`${signal} received, stopping…`);
		try {
			await deps.stopAll();
			deps.exit(0);
		} catch (err) {
			deps.error("Stopping failed:", err);
			deps.exit(1);
		}
	};
}
