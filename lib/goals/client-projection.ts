/**
 * The goal service's copy of clients, kept from client events and from the client checks at
 * goal creation, so that both follow the same rules (lib/domain/projection-rules.ts), in the copy
 * table client_projection:
 * - a state no newer than the copy held changes nothing;
 * - a new name is copied onto the client's goals (`Goal.clientName`);
 * - a tombstone deletes every living goal of the client, each with its own goal DELETED event
 *   appended to our log in the same transaction.
 */
import { cacheKeys } from "../infra/cache-keys";
import { CopyProjection } from "../consumer/copy-projection";
import { type ClientCopy, clientCopyConsequences } from "../domain/projection-rules";
import { type Effects, noEffects } from "../event-log/effects";
import { causeOf } from "../domain/caused-by";
import type { ClientEvent, GoalEvent } from "../domain/events";
import type { EventLog } from "../event-log/event-log";
import type { WithSaved } from "../storage/copy-table";
import type { Sql } from "../storage/sql";
import { type GoalStore, goalEventFields } from "./goal-store";

export class ClientProjection extends CopyProjection<ClientEvent, ClientCopy> {
	constructor(
		private readonly store: GoalStore,
		private readonly log: EventLog<GoalEvent>,
	) {
		super(store.clientCopies);
	}

	entityOf(event: ClientEvent): number {
		return event.clientId;
	}

	protected copyOf(event: ClientEvent, deleted: boolean): ClientCopy {
		return { clientId: event.clientId, name: event.clientName, email: event.clientEmail, version: event.version, deleted };
	}

	/** A client copy the producer never had is removed; its goals (if any) are the goal service's own and stay. */
	protected removed(): Effects {
		return noEffects();
	}

	/**
	 * What the client service just told goal creation: kept like an event's state. Answers the
	 * copy now held (locked on PostgreSQL until the transaction ends), so that the creation decides
	 * on it without reading it again; none when another replica's newer copy won the write.
	 */
	async learn(sql: Sql, copy: ClientCopy): Promise<{ effects: Effects; held?: ClientCopy }> {
		const held = await this.copies.held(sql, [copy.clientId]);
		const current = held.get(copy.clientId);
		if (current && (current.deleted || current.version >= copy.version)) return { effects: noEffects(), held: current };
		const { saved, effects } = await this.save(sql, held, [copy], [], "save");
		return { effects, held: saved.has(copy.clientId) ? copy : undefined };
	}

	/** The renames, decided before the save (their rule needs only the copy held before it): sent with it. */
	protected override withSaved(held: ReadonlyMap<number, ClientCopy>, copies: ClientCopy[]): WithSaved | undefined {
		const renamed = copies.filter((copy) => clientCopyConsequences(held.get(copy.clientId) ?? null, copy).rename).map((copy) => copy.clientId);
		return renamed.length > 0 ? this.store.renameGoalsWithSaved(renamed) : undefined;
	}

	/**
	 * A tombstone's cascade runs statements after the save; a rename rides with it, so otherwise
	 * the checkpoint and COMMIT ride too (two round trips: the copies held, locked, then the rest).
	 * Never one statement (CopyProjection.inOneStatement): a goal creation holding the copy's lock
	 * commits its goal, with the name it read, while the rename waits for that lock, and one
	 * statement renames only the goals of its snapshot, taken before it waited; that new goal
	 * would keep the old name. The held copies' locked read, a statement before, waits first.
	 */
	protected override endsWithSave(held: ReadonlyMap<number, ClientCopy>, copies: ClientCopy[]): boolean {
		return !copies.some((copy) => clientCopyConsequences(held.get(copy.clientId) ?? null, copy).cascade);
	}

	/**
	 * Renames copied onto the goals (`touched`: done with the save already); tombstones cascade to
	 * the goals, each deletion with its event.
	 */
	protected async consequences(
		sql: Sql,
		held: ReadonlyMap<number, ClientCopy>,
		saved: ClientCopy[],
		events: readonly ClientEvent[],
		touched: number[] | null,
	): Promise<Effects> {
		const effects = noEffects();
		// a cascade's events (a deleted client's goals) were caused by the request that deleted it
		const causes = new Map<number, string | undefined>(events.map((event) => [event.clientId, causeOf(event)]));
		const renamed: number[] = [];
		const cascaded: number[] = [];
		for (const copy of saved) {
			const { cascade, rename } = clientCopyConsequences(held.get(copy.clientId) ?? null, copy);
			if (cascade) cascaded.push(copy.clientId);
			if (rename) renamed.push(copy.clientId);
		}
		// `touched`: the goals renamed along with the save, whichever way it decided them
		if (touched !== null || renamed.length > 0) {
			const goalIds = touched ?? (await this.store.renameGoalsOf(sql, renamed));
			effects.cacheKeys.push(...goalIds.map((id) => cacheKeys.entity("goals", id)));
			if (goalIds.length > 0) effects.cacheKeys.push(cacheKeys.lists("goals"));
		}
		if (cascaded.length > 0) {
			// each deletion decided as the goal's own DELETE would be, appended with the event that decided it
			const deleted = await this.store.deleteGoalsOf(sql, cascaded);
			for (const { row, event } of deleted) {
				effects.events.push(await this.log.appendDecided(sql, row.id, event, goalEventFields(row), { requestId: causes.get(row.clientId) }));
				effects.cacheKeys.push(cacheKeys.entity("goals", row.id));
			}
			if (deleted.length > 0) effects.cacheKeys.push(cacheKeys.lists("goals"));
		}
		effects.cacheKeys = [...new Set(effects.cacheKeys)];
		return effects;
	}
}
