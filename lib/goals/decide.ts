/**
 * The goal service's decisions, one per command, pure: given the goal as it is held (or none;
 * for a new goal, the goal service's copy of its client) and the command, the goal after it and
 * the event to append, or the typed error to answer (404 absent or deleted; 422 client deleted;
 * 503 client unknown here). The stamp carries the time and the event's id.
 *
 * The store (lib/goals/goal-store.ts) reads what a decision needs and writes what it decided in
 * one transaction; the version guard on its write stays as the last line of defence.
 */
import { type Decision, type DecisionStamp, eventDraft } from "../domain/decision";
import type { ClientCopy } from "../domain/projection-rules";
import { DependencyUnavailableError, EntityNotFoundError, FieldValidationError } from "../errors";

/** A goal as the write path holds it, a deleted one too (`deletedAt` set). */
export interface GoalState {
	id: number;
	clientId: number;
	/** copy of the client's name, kept from client events */
	clientName: string;
	goalName: string;
	targetCents: number;
	version: number;
	deletedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

/** A goal not stored yet: the database gives it its id. */
export type NewGoalState = Omit<GoalState, "id">;

export interface CreateGoal {
	clientId: number;
	goalName: string;
	targetCents: number;
}

/** At least one of the fields (the action's params check that; `clientId` cannot change). */
export interface UpdateGoal {
	id: number;
	goalName?: string;
	targetCents?: number;
}

export interface DeleteGoal {
	id: number;
}

/** 422 on `clientId`: the client does not exist or is deleted. */
export function clientNotFound(clientId: number): FieldValidationError {
	return new FieldValidationError([
		{ type: "clientNotFound", field: "clientId", message: `Client ${clientId} does not exist or is deleted.`, actual: clientId },
	]);
}

/**
 * A new goal of a living client, at version 1, with the client's name as our copy holds it.
 * `client` is that copy, read under its lock: a deletion that arrived since the client service
 * was asked is seen here (422). No copy at all: the client service could not be asked either and
 * nothing here knows the client (503).
 */
export function decideCreateGoal(client: ClientCopy | undefined, command: CreateGoal, stamp: DecisionStamp): Decision<NewGoalState> {
	if (!client) {
		throw new DependencyUnavailableError(`Cannot check client ${command.clientId}: the client service is unavailable and the client is unknown here`, {
			service: "clients",
			clientId: command.clientId,
		});
	}
	if (client.deleted) throw clientNotFound(command.clientId);
	return {
		state: {
			clientId: command.clientId,
			clientName: client.name,
			goalName: command.goalName,
			targetCents: command.targetCents,
			version: 1,
			deletedAt: null,
			createdAt: stamp.now,
			updatedAt: stamp.now,
		},
		event: eventDraft("CREATED", 1, stamp),
	};
}

/** A living goal changed: the fields given replace the held ones, version + 1. 404 if absent or deleted. */
export function decideUpdateGoal(current: GoalState | null, command: UpdateGoal, stamp: DecisionStamp): Decision<GoalState> {
	if (current === null || current.deletedAt !== null) throw new EntityNotFoundError("Goal", command.id);
	const version = current.version + 1;
	return {
		state: {
			...current,
			goalName: command.goalName ?? current.goalName,
			targetCents: command.targetCents ?? current.targetCents,
			version,
			updatedAt: stamp.now,
		},
		event: eventDraft("UPDATED", version, stamp),
	};
}

/** A living goal deleted: a tombstone with its last field values, version + 1. 404 if absent or already deleted. */
export function decideDeleteGoal(current: GoalState | null, command: DeleteGoal, stamp: DecisionStamp): Decision<GoalState> {
	if (current === null || current.deletedAt !== null) throw new EntityNotFoundError("Goal", command.id);
	const version = current.version + 1;
	return {
		state: { ...current, version, deletedAt: stamp.now, updatedAt: stamp.now },
		event: eventDraft("DELETED", version, stamp),
	};
}
