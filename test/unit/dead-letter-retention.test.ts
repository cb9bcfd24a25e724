/** How long settled dead letters are kept: the cutoff before which they are purged. */
import { DEAD_LETTER_RETENTION_DAYS_DEFAULT, retentionCutoff } from "../../lib/consumer/dead-letter-retention";

test("given the default of 14 days, then the cutoff is 14 days before now", () => {
	expect(DEAD_LETTER_RETENTION_DAYS_DEFAULT).toBe(14);
	expect(retentionCutoff(new Date("2026-03-15T12:00:00.000Z"), 14)).toEqual(new Date("2026-03-01T12:00:00.000Z"));
});

test("given 0 days, then the cutoff is now: every settled letter is purged", () => {
	const now = new Date("2026-03-15T12:00:00.000Z");
	expect(retentionCutoff(now, 0)).toEqual(now);
});

test("given a retention across a daylight-saving change, then whole days of 24 h (times are UTC)", () => {
	expect(retentionCutoff(new Date("2026-04-01T00:00:00.000Z"), 7)).toEqual(new Date("2026-03-25T00:00:00.000Z"));
});
