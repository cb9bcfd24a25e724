/**
 * How long a settled dead letter (discarded by an operator, or replayed) is kept before it is
 * purged: DEAD_LETTER_RETENTION_DAYS, read in moleculer.config.ts. A dead letter still waiting
 * for an operator is never purged. Pure: the store deletes (lib/consumer/retries.ts).
 */

export const DEAD_LETTER_RETENTION_DAYS_DEFAULT = 14;

const DAY_MS = 86_400_000;

/**
 * Given the time now and the retention in days, then the cutoff: a letter settled before it is
 * purged, one settled at it or after is kept. 0 days purges every settled letter.
 */
export function retentionCutoff(now: Date, days: number): Date {
	return new Date(now.getTime() - days * DAY_MS);
}
