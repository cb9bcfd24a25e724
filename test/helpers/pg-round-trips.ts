/**
 * Round trips to PostgreSQL, counted where pg sends them: pg's Client sends one query and waits
 * for its answer before the next, so each `query` call is one round trip. `except`: a client not
 * to count (a test's own observer session).
 */
import { Client } from "pg";

export interface RoundTrips {
	/** round trips since counting began */
	readonly count: number;
	/** stop counting (pg's Client as it was) */
	restore(): void;
}

export function countPgRoundTrips(except?: Client): RoundTrips {
	let count = 0;
	const query = Client.prototype.query;
	const spy = jest.spyOn(Client.prototype, "query").mockImplementation(function (this: Client, ...args: Parameters<Client["query"]>) {
		if (this !== except) count++;
		return (query as (...a: unknown[]) => unknown).apply(this, args) as ReturnType<Client["query"]>;
	});
	return {
		get count() {
			return count;
		},
		restore: () => spy.mockRestore(),
	};
}
