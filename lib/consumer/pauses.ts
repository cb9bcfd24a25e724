/**
 * A consumer's pause, kept in its own database (table `consumer_pause`, one row; no row is a
 * consumer that never paused): every replica reads it, so a pause is the consumer's and not one
 * replica's, and a replica that starts while it lasts starts paused. Beside it, the consecutive
 * failed events of all replicas, counted in the transactions that record the failures; the
 * decisions are lib/consumer/pause-rules.ts's.
 *
 * Counting costs nothing while events succeed: a replica writes the count only in a transaction
 * with a failure, or to start the count again after one (its own, or one it saw in the table on
 * its last look, every CONSUMER_POLICY.pauseLookMs). So a success on one replica may reset
 * another's failures up to that much later.
 */
import { QueryTypes } from "sequelize";
import type { Database } from "../storage/database";
import { forUpdate, readTime, type Sql, sqlTimeOrNull } from "../storage/sql";
import {
	failureStreak,
	PAUSE_POLICY,
	type PausePolicy,
	type PauseState,
	pauseByFailures,
	pauseByOperator,
	pausesItself,
	probeDue,
	probeFailed,
	RUNNING,
	resumed,
} from "./pause-rules";

interface PauseRow {
	state: string;
	reason: string | null;
	since: unknown;
	probeAt: unknown;
	failures: number | string;
}

const COLUMNS = `"state", "reason", "since", "probeAt", "failures"`;

function fromRow(row: PauseRow | undefined): PauseState {
	if (!row) return RUNNING;
	return {
		state: row.state === "paused" ? "paused" : "running",
		reason: row.reason,
		since: row.since === null || row.since === undefined ? null : readTime(row.since),
		probeAt: row.probeAt === null || row.probeAt === undefined ? null : readTime(row.probeAt),
		failures: Number(row.failures),
	};
}

/** What an operator's pause or resume did: the state after it, and whether it changed running ↔ paused. */
export interface PauseChange {
	pause: PauseState;
	changed: boolean;
}

export class PauseStore {
	/** this replica has reason to think the table counts failures (its own, or seen there) */
	private mayCount = false;

	constructor(
		private readonly db: Database,
		private readonly consumer: string,
		readonly policy: PausePolicy = PAUSE_POLICY,
		/** the clock, for tests */
		private readonly now: () => Date = () => new Date(),
	) {}

	/** Outside a transaction: the pause as the table holds it now. */
	async read(): Promise<PauseState> {
		const rows = await this.db.sequelize.query<PauseRow>(`SELECT ${COLUMNS} FROM consumer_pause WHERE "consumer" = ?`, {
			type: QueryTypes.SELECT,
			replacements: [this.consumer],
		});
		const pause = fromRow(rows[0]);
		if (pause.failures > 0) this.mayCount = true;
		return pause;
	}

	private async get(sql: Sql): Promise<PauseState> {
		const rows = await sql.all<PauseRow>(`SELECT ${COLUMNS} FROM consumer_pause WHERE "consumer" = ?${forUpdate(sql)}`, [this.consumer]);
		return fromRow(rows[0]);
	}

	private async write(sql: Sql, pause: PauseState): Promise<void> {
		await sql.run(
			`INSERT INTO consumer_pause ("consumer", ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT ("consumer") DO UPDATE SET "state" = excluded."state", "reason" = excluded."reason", "since" = excluded."since",
			 "probeAt" = excluded."probeAt", "failures" = excluded."failures"`,
			[this.consumer, pause.state, pause.reason, sqlTimeOrNull(sql, pause.since), sqlTimeOrNull(sql, pause.probeAt), pause.failures],
		);
	}

	/** Whether counting a batch without failures runs a statement (a failure streak to reset). */
	get countsSuccess(): boolean {
		return this.mayCount;
	}

	/**
	 * Inside the transaction that applied (or recorded the failures of) a batch: count its outcomes,
	 * in log order. Answers the pause when this batch made a running consumer pause itself, else null.
	 */
	async count(sql: Sql, outcomes: readonly boolean[], lastError: string): Promise<PauseState | null> {
		const failed = outcomes.includes(false);
		if (!failed && !this.mayCount) return null;
		if (!failed) {
			await sql.run(`UPDATE consumer_pause SET "failures" = 0 WHERE "consumer" = ? AND "failures" <> 0`, [this.consumer]);
			this.mayCount = false;
			return null;
		}
		const current = await this.get(sql);
		const failures = failureStreak(current.failures, outcomes);
		this.mayCount = failures > 0;
		if (current.state === "running" && pausesItself(failures, this.policy)) {
			const pause = pauseByFailures(failures, lastError, this.now(), this.policy);
			await this.write(sql, pause);
			return pause;
		}
		await this.write(sql, { ...current, failures });
		return null;
	}

	/** An operator's pause (`by`: an admin token's id, or `repl`): until an operator resumes it. */
	pause(by: string, note?: string): Promise<PauseChange> {
		return this.db.transaction(async (sql) => {
			const current = await this.get(sql);
			const pause = pauseByOperator(by, note, this.now(), current.failures);
			await this.write(sql, pause);
			return { pause, changed: current.state !== "paused" };
		});
	}

	/** An operator's resume: running, its failures counted from 0 again. */
	resume(): Promise<PauseChange> {
		return this.db.transaction(async (sql) => {
			const current = await this.get(sql);
			if (current.state === "running") return { pause: current, changed: false };
			const pause = resumed(this.now());
			await this.write(sql, pause);
			this.mayCount = false;
			return { pause, changed: true };
		});
	}

	/**
	 * Take the turn to try one event, if a pause by failures is due for it: the next try is put a
	 * pause later at once, so that no other replica tries too (and so that a try that fails, or
	 * that this replica does not live to finish, leaves the pause as it should be). Answers the
	 * pause as it now stands when this replica got the turn, else null.
	 */
	claimProbe(): Promise<PauseState | null> {
		return this.db.transaction(async (sql) => {
			const current = await this.get(sql);
			const now = this.now();
			if (!probeDue(current, now)) return null;
			const next = probeFailed(current, now, this.policy);
			await this.write(sql, next);
			return next;
		});
	}

	/** The tried event was applied: running again, unless an operator paused it meanwhile. Answers the state after. */
	probeSucceeded(): Promise<PauseChange> {
		return this.db.transaction(async (sql) => {
			const current = await this.get(sql);
			if (current.state !== "paused" || current.probeAt === null) return { pause: current, changed: false };
			const pause = resumed(this.now());
			await this.write(sql, pause);
			this.mayCount = false;
			return { pause, changed: true };
		});
	}
}
