/**
 * One relay per producer at a time. Replicas sharing a PostgreSQL database compete for a
 * session-level advisory lock (`pg_try_advisory_lock`) on a connection of their own, outside
 * the pool: the holder keeps it as long as that connection lives. When the holder dies (even
 * kill -9), its connection closes and PostgreSQL releases the lock; the others ask again every
 * second, so one of them takes over within about a second. When the lock's connection breaks,
 * the holder hears it at once ('error' / 'end') and stops relaying: another replica may hold
 * the lock from that moment on.
 *
 * SQLite serves one replica: it needs no lock and always relays.
 */
import type { Client } from "pg";
import type { Source } from "../constants";
import type { Database } from "../storage/database";
import type { LockAnswer } from "./relay-rules";

export class RelayLock {
	private session: Client | null = null;
	private held = false;
	private checkedAt = 0;

	/**
	 * @param onLost called once when the lock's connection breaks while it was held
	 */
	constructor(
		private readonly db: Database,
		private readonly source: Source,
		private readonly onLost: (why: string) => void,
	) {}

	/** Whether the database needs a lock at all (only PostgreSQL, where replicas share it). */
	get needed(): boolean {
		return this.db.dialect === "postgres";
	}

	get holds(): boolean {
		return this.held;
	}

	/**
	 * Take the lock if it is free (or keep it): what PostgreSQL answered. A held lock's connection
	 * is asked a `SELECT 1` at most every `checkEveryMs`: a connection that died without a word
	 * (a network cut) is found within seconds, not at the next TCP keepalive. Never throws.
	 */
	async tryTake(checkEveryMs = 1000): Promise<LockAnswer> {
		if (this.held) {
			if (Date.now() - this.checkedAt < checkEveryMs || !this.session) return "taken";
			try {
				await this.session.query("SELECT 1");
				this.checkedAt = Date.now();
				return "taken";
			} catch {
				this.drop();
				return "lost";
			}
		}
		try {
			const session = this.session ?? (await this.connect());
			const { rows } = await session.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS locked", [`relay:${this.source}`]);
			this.held = rows[0]?.locked === true;
			this.checkedAt = Date.now();
			return this.held ? "taken" : "refused";
		} catch {
			this.drop();
			return "lost";
		}
	}

	/** Let the lock go (its connection closes: PostgreSQL releases it). */
	async release(): Promise<void> {
		const session = this.session;
		this.session = null;
		this.held = false;
		await session?.end().catch(() => undefined);
	}

	private async connect(): Promise<Client> {
		const session = await this.db.openSession();
		const broken = (why: string) => {
			if (this.session !== session) return;
			const wasHeld = this.held;
			this.drop();
			if (wasHeld) this.onLost(why);
		};
		session.on("error", (err: Error) => broken(`the lock's database connection failed (${err.message})`));
		session.on("end", () => broken("the lock's database connection closed"));
		this.session = session;
		return session;
	}

	private drop(): void {
		const session = this.session;
		this.session = null;
		this.held = false;
		session?.end().catch(() => undefined);
	}
}
