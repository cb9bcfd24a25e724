/**
 * How the goal service follows a client: one function for client events (live or caught up)
 * and for the client checks made at goal creation, so both keep the same rules.
 *
 * - Version guard: a state no newer than the copy we hold changes nothing (returns null).
 * - Rename: the new name is copied onto the client's goals (their `clientName`).
 * - Delete: a tombstone, and every living goal of the client deleted, each with its own
 *   goal DELETED event appended to our log in the same transaction.
 */
import type { Transaction } from "sequelize";
import { cacheKeys } from "../cache-keys";
import { type Effects, noEffects } from "../effects";
import type { ClientEvent, GoalEvent } from "../events";
import type { EventLog } from "../event-log";
import { type ClientState, type GoalStore, goalEventFields } from "./goal-store";

export function clientStateOf(event: ClientEvent): ClientState {
	return {
		clientId: event.clientId,
		name: event.clientName,
		email: event.clientEmail,
		version: event.version,
		deleted: event.eventType === "DELETED",
	};
}

export async function applyClientState(
	store: GoalStore,
	log: EventLog<GoalEvent>,
	tx: Transaction,
	state: ClientState,
): Promise<Effects | null> {
	await store.lockClient(tx, state.clientId);
	const changed = await store.upsertClientCopy(tx, state);
	if (!changed) return null;

	const effects = noEffects();
	if (state.deleted) {
		const goals = await store.aliveOfForUpdate(tx, state.clientId);
		for (const goal of goals) {
			await store.markDeleted(tx, goal);
			effects.events.push(await log.append(tx, "DELETED", Number(goal.id), goal.version, goalEventFields(goal)));
			effects.cacheKeys.push(cacheKeys.entity("goals", Number(goal.id)));
		}
		if (goals.length > 0) effects.cacheKeys.push(cacheKeys.lists("goals"));
	} else if (changed.previous === null || changed.previous.name !== state.name) {
		const renamed = await store.renameClient(tx, state.clientId, state.name);
		effects.cacheKeys.push(...renamed.map((id) => cacheKeys.entity("goals", id)));
		if (renamed.length > 0) effects.cacheKeys.push(cacheKeys.lists("goals"));
	}
	return effects;
}
