/**
 * The client service's copy of goals (`Client.goals`), kept from goal events by the rules of
 * lib/domain/projection-rules.ts.
 */
import { cacheKeys } from "../infra/cache-keys";
import type { BatchResult, Projection } from "../consumer/projection";
import { foldEvents } from "../domain/projection-rules";
import type { GoalEvent } from "../domain/events";
import { toCents } from "../domain/money";
import type { Sql } from "../storage/sql";
import type { ClientStore } from "./client-store";

export class GoalProjection implements Projection<GoalEvent> {
	constructor(private readonly store: ClientStore) {}

	entityOf(event: GoalEvent): number {
		return event.goalId;
	}

	async applyBatch(sql: Sql, events: GoalEvent[]): Promise<BatchResult<GoalEvent>> {
		const held = await this.store.heldGoalCopies(
			sql,
			events.map((event) => event.goalId),
		);
		const folded = foldEvents(
			held,
			events,
			(event) => event.goalId,
			(event, decision) => ({
				goalId: event.goalId,
				clientId: event.clientId,
				goalName: event.goalName,
				targetCents: toCents(event.targetAmount),
				version: event.version,
				deleted: decision.kind === "tombstone",
			}),
		);
		const changed = [...folded.changed.values()];
		const saved = changed.length > 0 ? await this.store.saveGoalCopies(sql, changed) : new Set<number>();
		const clients = new Set(changed.filter((copy) => saved.has(copy.goalId)).map((copy) => copy.clientId));
		const keys = [...clients].map((clientId) => cacheKeys.entity("clients", clientId));
		if (keys.length > 0) keys.push(cacheKeys.lists("clients"));
		return {
			applied: folded.applied.filter((event) => saved.has(event.goalId)),
			stale: [...folded.stale, ...folded.applied.filter((event) => !saved.has(event.goalId))],
			effects: { cacheKeys: keys, events: [] },
		};
	}
}
