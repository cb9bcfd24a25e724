/**
 * The client service's copy of goals (`Client.goals`), kept from goal events by the rules of
 * lib/domain/projection-rules.ts.
 */
import { cacheKeys } from "../infra/cache-keys";
import type { BatchResult, Projection } from "../consumer/projection";
import { foldEvents } from "../domain/projection-rules";
import { planRebuildPage } from "../domain/snapshot";
import type { GoalEvent } from "../domain/events";
import type { Effects } from "../event-log/effects";
import { toCents } from "../domain/money";
import type { Sql } from "../storage/sql";
import type { ClientStore, GoalCopy } from "./client-store";

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

	async rebuildPage(sql: Sql, snapshot: GoalEvent[], range: { after: number; upTo: number | null }): Promise<BatchResult<GoalEvent> & { absent: number[] }> {
		const held = await this.store.goalCopiesInRange(sql, range.after, range.upTo);
		const plan = planRebuildPage(held, snapshot, (event) => event.goalId, range);
		const copies = plan.write
			.map(
				(event): GoalCopy => ({
					goalId: event.goalId,
					clientId: event.clientId,
					goalName: event.goalName,
					targetCents: toCents(event.targetAmount),
					version: event.version,
					deleted: event.eventType === "DELETED",
				}),
			)
			// rows already as the snapshot says are left as they are
			.filter((copy) => !sameGoalCopy(held.get(copy.goalId), copy));
		const saved = copies.length > 0 ? await this.store.overwriteGoalCopies(sql, copies) : new Set<number>();
		const clients = new Set(copies.filter((copy) => saved.has(copy.goalId)).map((copy) => copy.clientId));
		for (const copy of copies) {
			const before = held.get(copy.goalId);
			if (before && saved.has(copy.goalId)) clients.add(before.clientId);
		}
		const keys = [...clients].map((clientId) => cacheKeys.entity("clients", clientId));
		if (keys.length > 0) keys.push(cacheKeys.lists("clients"));
		return {
			applied: plan.write.filter((event) => saved.has(event.goalId)),
			stale: [...plan.newer, ...plan.write.filter((event) => !saved.has(event.goalId))],
			effects: { cacheKeys: keys, events: [] },
			absent: plan.remove,
		};
	}

	async removeCopies(sql: Sql, ids: number[]): Promise<Effects> {
		const clients = [...new Set(await this.store.removeGoalCopies(sql, ids))];
		const keys = clients.map((clientId) => cacheKeys.entity("clients", clientId));
		if (keys.length > 0) keys.push(cacheKeys.lists("clients"));
		return { cacheKeys: keys, events: [] };
	}
}

function sameGoalCopy(held: GoalCopy | undefined, copy: GoalCopy): boolean {
	return (
		held !== undefined &&
		held.version === copy.version &&
		held.deleted === copy.deleted &&
		held.clientId === copy.clientId &&
		held.goalName === copy.goalName &&
		held.targetCents === copy.targetCents
	);
}
