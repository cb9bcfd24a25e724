/**
 * A warning per sender at most once an interval: a node that keeps sending what we drop is named
 * in the log once, not once per packet, and a second offender is not hidden behind the first.
 * Each line says how many it stands for. Senders are what packets claim to be, so the table is
 * bounded: beyond `maxSenders` in one interval, the rest share one entry.
 */

/** The entry that stands for every sender beyond the table's bound. */
export const OTHER_SENDERS = "(other senders)";

export type Throttled = { log: true; unlogged: number } | { log: false };

export class SenderThrottle {
	private readonly senders = new Map<string, { loggedAt: number; unlogged: number }>();

	constructor(
		private readonly everyMs: number,
		private readonly maxSenders = 1000,
	) {}

	/** Whether to log about `sender` at `now`, with how many of its drops went unlogged since its last line. */
	take(sender: string, now: number): Throttled {
		const name = this.senders.has(sender) || this.room(now) ? sender : OTHER_SENDERS;
		const entry = this.senders.get(name);
		if (entry && now - entry.loggedAt < this.everyMs) {
			entry.unlogged++;
			return { log: false };
		}
		this.senders.set(name, { loggedAt: now, unlogged: 0 });
		return { log: true, unlogged: entry?.unlogged ?? 0 };
	}

	/** Room for one more sender, once those quiet for a whole interval are forgotten. */
	private room(now: number): boolean {
		if (this.senders.size < this.maxSenders) return true;
		for (const [name, entry] of this.senders) {
			if (now - entry.loggedAt >= this.everyMs && entry.unlogged === 0) this.senders.delete(name);
		}
		return this.senders.size < this.maxSenders;
	}
}
