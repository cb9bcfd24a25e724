/**
 * The client service's copy of goals (`Client.goals`), kept from goal events by the rules of
 * lib/domain/projection-rules.ts in the copy table goal_projection. A saved or removed copy
 * stales its client's cached answer and the list pages.
 */
import { cacheKeys } from "../infra/cache-keys";
import { CopyProjection } from "../consumer/copy-projection";
import type { GoalEvent } from "../domain/events";
import type { Effects } from "../event-log/effects";
import type { Sql } from "../storage/sql";
import { toCents } from "../domain/money";
import type { ClientStore, GoalCopy } from "./client-store";

export class GoalProjection extends CopyProjection<GoalEvent, GoalCopy> {
	constructor(store: ClientStore) {
		super(store.goalCopies);
	}

	entityOf(event: GoalEvent): number {
		return event.goalId;
	}

	protected copyOf(event: GoalEvent, deleted: boolean): GoalCopy {
		return {
			goalId: event.goalId,
			clientId: event.clientId,
			goalName: event.goalName,
			targetCents: toCents(event.targetAmount),
			version: event.version,
			deleted,
		};
	}

	/**
	 * Any batch in one statement: what a saved goal copy means needs no statement (only cache
	 * keys), and nothing else writes from these copies (the PUT's answer only reads them).
	 */
	protected override inOneStatement(): boolean {
		return true;
	}

	/** The clients whose goals changed (a goal's client never changes; the held one is counted all the same). */
	protected async consequences(_sql: Sql, held: ReadonlyMap<number, GoalCopy>, saved: GoalCopy[]): Promise<Effects> {
		const clients = new Set<number>();
		for (const copy of saved) {
			clients.add(copy.clientId);
			const before = held.get(copy.goalId);
			if (before) clients.add(before.clientId);
		}
		return staleClients(clients);
	}

	protected removed(rows: GoalCopy[]): Effects {
		return staleClients(new Set(rows.map((row) => row.clientId)));
	}
}

function staleClients(clients: ReadonlySet<number>): Effects {
	const keys = [...clients].map((clientId) => cacheKeys.entity("clients", clientId));
	if (keys.length > 0) keys.push(cacheKeys.lists("clients"));
	return { cacheKeys: keys, events: [] };
}
