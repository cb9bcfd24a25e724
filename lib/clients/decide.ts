/**
 * The client service's decisions, one per command, pure: given the client as it is held (or
 * none) and the command, the client after it and the event to append, or the typed error to
 * answer (404 absent or deleted, 409 email taken). The stamp carries the time and the event's id.
 *
 * The store (lib/clients/client-store.ts) reads what a decision needs and writes what it decided
 * in one transaction; its SQL guards stay as the last line of defence: the version guard on the
 * write, the unique index on a living client's lower-cased email.
 */
import { type Decision, type DecisionStamp, eventDraft } from "../domain/decision";
import { ConflictError, EntityNotFoundError } from "../errors";

/** A client as the write path holds it, a deleted one too (`deletedAt` set). */
export interface ClientState {
	id: number;
	name: string;
	email: string;
	version: number;
	deletedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

/** A client not stored yet: the database gives it its id. */
export type NewClientState = Omit<ClientState, "id">;

export interface CreateClient {
	name: string;
	email: string;
}

/** At least one of the fields (the action's params check that). */
export interface UpdateClient {
	id: number;
	name?: string;
	email?: string;
}

export interface DeleteClient {
	id: number;
}

/** 409: another living client has this email (compared lower-cased). */
export function emailTaken(email: string): ConflictError {
	return new ConflictError(`A client with email '${email}' already exists`, { field: "email", email });
}

/**
 * A new client, at version 1. Nothing held can refuse it: whether its email is taken is known
 * only when it is inserted (the unique index checks it in that same statement), which answers
 * `emailTaken`.
 */
export function decideCreateClient(command: CreateClient, stamp: DecisionStamp): Decision<NewClientState> {
	return {
		state: { name: command.name, email: command.email, version: 1, deletedAt: null, createdAt: stamp.now, updatedAt: stamp.now },
		event: eventDraft("CREATED", 1, stamp),
	};
}

/**
 * A living client changed: the fields given replace the held ones, version + 1. 404 if absent
 * or deleted; 409 if a new email belongs to another living client (`emailHolder`: its id, as
 * the store read it with the client).
 */
export function decideUpdateClient(
	current: ClientState | null,
	command: UpdateClient,
	emailHolder: number | null,
	stamp: DecisionStamp,
): Decision<ClientState> {
	if (current === null || current.deletedAt !== null) throw new EntityNotFoundError("Client", command.id);
	if (command.email !== undefined && emailHolder !== null && emailHolder !== current.id) throw emailTaken(command.email);
	const version = current.version + 1;
	return {
		state: { ...current, name: command.name ?? current.name, email: command.email ?? current.email, version, updatedAt: stamp.now },
		event: eventDraft("UPDATED", version, stamp),
	};
}

/**
 * A living client deleted: a tombstone with its last field values, version + 1 (its email is
 * free again). 404 if absent or already deleted.
 */
export function decideDeleteClient(current: ClientState | null, command: DeleteClient, stamp: DecisionStamp): Decision<ClientState> {
	if (current === null || current.deletedAt !== null) throw new EntityNotFoundError("Client", command.id);
	const version = current.version + 1;
	return {
		state: { ...current, version, deletedAt: stamp.now, updatedAt: stamp.now },
		event: eventDraft("DELETED", version, stamp),
	};
}
