/**
 * The goal service's copy of clients, kept from client events and from the client checks at
 * goal creation, so that both follow the same rules (lib/domain/projection-rules.ts):
 * - a state no newer than the copy held changes nothing;
 * - a new name is copied onto the client's goals (`Goal.clientName`);
 * - a tombstone deletes every living goal of the client, each with its own goal DELETED event
 *   appended to our log in the same transaction.
 */
import { cacheKeys } from "../infra/cache-keys";
import type { BatchResult, Projection } from "../consumer/projection";
import { type ClientCopy, clientCopyConsequences, foldEvents } from "../domain/projection-rules";
import { planRebuildPage } from "../domain/snapshot";
import { type Effects, noEffects } from "../event-log/effects";
import { causeOf } from "../domain/caused-by";
import type { ClientEvent, GoalEvent } from "../domain/events";
import type { EventLog } from "../event-log/event-log";
import type { Sql } from "../storage/sql";
import { type GoalStore, goalEventFields } from "./goal-store";

export class ClientProjection implements Projection<ClientEvent> {
	constructor(
		private readonly store: GoalStore,
		private readonly log: EventLog<GoalEvent>,
	) {}

	entityOf(event: ClientEvent): number {
		return event.clientId;
	}

	async applyBatch(sql: Sql, events: ClientEvent[]): Promise<BatchResult<ClientEvent>> {
		const held = await this.store.heldClientCopies(
			sql,
			events.map((event) => event.clientId),
		);
		const folded = foldEvents(
			held,
			events,
			(event) => event.clientId,
			(event, decision) => ({
				clientId: event.clientId,
				name: event.clientName,
				email: event.clientEmail,
				version: event.version,
				deleted: decision.kind === "tombstone",
			}),
		);
		// a cascade's events (a deleted client's goals) were caused by the request that deleted it
		const causes = new Map<number, string | undefined>(events.map((event) => [event.clientId, causeOf(event)]));
		const { saved, effects } = await this.save(sql, held, [...folded.changed.values()], causes);
		// an entity whose save did not take was newer already (a replica got there first)
		return {
			applied: folded.applied.filter((event) => saved.has(event.clientId)),
			stale: [...folded.stale, ...folded.applied.filter((event) => !saved.has(event.clientId))],
			effects,
		};
	}

	async rebuildPage(
		sql: Sql,
		snapshot: ClientEvent[],
		range: { after: number; upTo: number | null },
	): Promise<BatchResult<ClientEvent> & { absent: number[] }> {
		const held = await this.store.clientCopiesInRange(sql, range.after, range.upTo);
		const plan = planRebuildPage(held, snapshot, (event) => event.clientId, range);
		const copies = plan.write.map(
			(event): ClientCopy => ({
				clientId: event.clientId,
				name: event.clientName,
				email: event.clientEmail,
				version: event.version,
				deleted: event.eventType === "DELETED",
			}),
		);
		// rows already as the snapshot says are left as they are: no write, no cascade, no eviction
		const differs = copies.filter((copy) => !sameClientCopy(held.get(copy.clientId), copy));
		const causes = new Map<number, string | undefined>(plan.write.map((event) => [event.clientId, causeOf(event)]));
		const { saved, effects } = await this.save(sql, held, differs, causes, (copies) => this.store.overwriteClientCopies(sql, copies));
		return {
			applied: plan.write.filter((event) => saved.has(event.clientId)),
			stale: [...plan.newer, ...plan.write.filter((event) => !saved.has(event.clientId))],
			effects,
			absent: plan.remove,
		};
	}

	/** A client copy the producer never had is removed; its goals (if any) are the goal service's own and stay. */
	async removeCopies(sql: Sql, ids: number[]): Promise<Effects> {
		await this.store.removeClientCopies(sql, ids);
		return noEffects();
	}

	/** What the client service just told goal creation: kept like an event's state. */
	async learn(sql: Sql, copy: ClientCopy): Promise<Effects> {
		const held = await this.store.heldClientCopies(sql, [copy.clientId]);
		const current = held.get(copy.clientId);
		if (current && (current.deleted || current.version >= copy.version)) return noEffects();
		return (await this.save(sql, held, [copy])).effects;
	}

	private async save(
		sql: Sql,
		held: ReadonlyMap<number, ClientCopy>,
		copies: ClientCopy[],
		causes: ReadonlyMap<number, string | undefined> = new Map(),
		write: (copies: ClientCopy[]) => Promise<Set<number>> = (copies) => this.store.saveClientCopies(sql, copies),
	): Promise<{ saved: Set<number>; effects: Effects }> {
		const effects = noEffects();
		if (copies.length === 0) return { saved: new Set(), effects };
		const saved = await write(copies);
		const renamed: number[] = [];
		const cascaded: number[] = [];
		for (const copy of copies) {
			if (!saved.has(copy.clientId)) continue;
			const { cascade, rename } = clientCopyConsequences(held.get(copy.clientId) ?? null, copy);
			if (cascade) cascaded.push(copy.clientId);
			if (rename) renamed.push(copy.clientId);
		}
		if (renamed.length > 0) {
			const goalIds = await this.store.renameGoalsOf(sql, renamed);
			effects.cacheKeys.push(...goalIds.map((id) => cacheKeys.entity("goals", id)));
			if (goalIds.length > 0) effects.cacheKeys.push(cacheKeys.lists("goals"));
		}
		if (cascaded.length > 0) {
			const goals = await this.store.deleteGoalsOf(sql, cascaded);
			for (const goal of goals) {
				effects.events.push(await this.log.append(sql, "DELETED", goal.id, goal.version, goalEventFields(goal), causes.get(goal.clientId)));
				effects.cacheKeys.push(cacheKeys.entity("goals", goal.id));
			}
			if (goals.length > 0) effects.cacheKeys.push(cacheKeys.lists("goals"));
		}
		effects.cacheKeys = [...new Set(effects.cacheKeys)];
		return { saved, effects };
	}
}

function sameClientCopy(held: ClientCopy | undefined, copy: ClientCopy): boolean {
	return held !== undefined && held.version === copy.version && held.deleted === copy.deleted && held.name === copy.name && held.email === copy.email;
}
