/**
 * Liveness for nodes that have no HTTP port (clients, goals in a cluster). Once its broker has
 * started, a node rewrites a small file every few seconds (HEARTBEAT_FILE, read in
 * moleculer.config.ts); the container's healthcheck (bin/healthcheck.ts) calls the node alive
 * while the file is fresh. A node whose event loop is stuck, or whose broker is stopping, lets
 * the file age or removes it, and its supervisor sees it unhealthy.
 */
import { promises as fs, rmSync, statSync } from "node:fs";

export const HEARTBEAT_INTERVAL_MS = 5_000;

/** Several missed beats before a node counts as dead: a GC pause or a busy second is no death. */
export const HEARTBEAT_MAX_AGE_MS = 30_000;

export class Heartbeat {
	private timer: NodeJS.Timeout | null = null;
	private beating: Promise<void> = Promise.resolve();
	private failing = false;
	private stopped = false;
	private inFlight = false;

	/**
	 * Removes a file left by an earlier life of this container at once: a node that crashed and
	 * is starting again must not look alive before its broker has started.
	 */
	constructor(
		private readonly file: string,
		private readonly onError: (err: Error) => void,
		private readonly intervalMs = HEARTBEAT_INTERVAL_MS,
	) {
		rmSync(file, { force: true });
	}

	/** Call once the broker has started: beats now, then every interval. */
	start(): void {
		if (this.timer || this.stopped) return; // a signal may arrive while the broker starts
		this.beat();
		// unref: the heartbeat never keeps a stopping process alive
		this.timer = setInterval(() => this.beat(), this.intervalMs).unref();
	}

	/** Call when the node begins to stop: no more beats, and the file is gone. */
	async stop(): Promise<void> {
		this.stopped = true;
		if (this.timer) clearInterval(this.timer);
		this.timer = null;
		await this.beating;
		rmSync(this.file, { force: true });
	}

	private beat(): void {
		// one write at a time: a slow disk must not pile them up, nor finish them out of order
		if (this.inFlight) return;
		this.inFlight = true;
		this.beating = fs
			.writeFile(this.file, `${new Date().toISOString()}\n`)
			.then(
				() => {
					this.failing = false;
				},
				(err: Error) => {
					// once per outage, not every 5 s
					if (!this.failing) this.onError(err);
					this.failing = true;
				},
			)
			.finally(() => {
				this.inFlight = false;
			});
	}
}

/** How old the heartbeat is in ms, or null if there is none. */
export function heartbeatAge(file: string, now: number = Date.now()): number | null {
	try {
		return Math.max(0, now - statSync(file).mtimeMs);
	} catch {
		return null;
	}
}
