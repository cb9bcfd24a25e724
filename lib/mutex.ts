/**
 * A FIFO async mutex. SQLite allows one writer at a time and Sequelize opens a separate
 * connection per SQLite transaction, so concurrent transactions would fail with SQLITE_BUSY
 * (or interleave on the shared `:memory:` connection). Queuing them in-process is exact for
 * SQLite, which serves a single replica anyway.
 */
export class Mutex {
	private tail: Promise<unknown> = Promise.resolve();

	run<T>(task: () => Promise<T>): Promise<T> {
		const result = this.tail.then(task, task);
		this.tail = result.catch(() => undefined);
		return result;
	}
}
