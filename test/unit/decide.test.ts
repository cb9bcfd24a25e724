/**
 * The producers' decisions, given/when/then (EventSourcing.NodeJS's decider specifications):
 * given what is held, when a command arrives, then the entity after it and the event to append,
 * or the typed error. Every expected outcome is written out: versions, times and ids are the
 * literal values a reader can check, never computed here with the code's own formula.
 */
import { type ClientState, decideCreateClient, decideDeleteClient, decideUpdateClient, type UpdateClient } from "../../lib/clients/decide";
import type { Decision, DecisionStamp } from "../../lib/domain/decision";
import type { ClientCopy } from "../../lib/domain/projection-rules";
import { ConflictError, DependencyUnavailableError, EntityNotFoundError, FieldValidationError } from "../../lib/errors";
import { decideCreateGoal, decideDeleteGoal, decideUpdateGoal, type GoalState } from "../../lib/goals/decide";

/** The clock and id generator of every decision here: one fixed moment, one fixed id. */
const STAMP: DecisionStamp = { now: new Date("2026-03-04T05:06:07.089Z"), eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4" };

const CREATED_AT = new Date("2026-01-02T03:04:05.006Z");
const UPDATED_AT = new Date("2026-02-03T04:05:06.007Z");

/** What a decision threw (or a failed expectation when it threw nothing). */
function thrownBy(decide: () => unknown): unknown {
	try {
		decide();
	} catch (err) {
		return err;
	}
	throw new Error("expected the decision to refuse, and it decided");
}

/** given(held).when(command).then(decision) / .thenThrows(class, fields), for one decide function. */
function specification<G, C, S>(decide: (given: G, command: C, stamp: DecisionStamp) => Decision<S>) {
	return {
		given: (held: G) => ({
			when: (command: C) => ({
				then(expected: Decision<S>): void {
					const before = structuredClone(held);
					expect(decide(held, command, STAMP)).toEqual(expected);
					// pure: what was held is left as it was
					expect(held).toEqual(before);
				},
				thenThrows(kind: abstract new (...args: never[]) => Error, fields: Record<string, unknown>): void {
					const error = thrownBy(() => decide(held, command, STAMP));
					expect(error).toBeInstanceOf(kind);
					expect(error).toMatchObject(fields);
				},
			}),
		}),
	};
}

describe("clients: create", () => {
	const spec = specification((_nothing: null, command: { name: string; email: string }, stamp) => decideCreateClient(command, stamp));

	test("given no client, when CREATE, then a client at version 1 created now, and a CREATED event at version 1", () => {
		spec
			.given(null)
			.when({ name: "Ann Lee", email: "Ann@Example.com" })
			.then({
				state: {
					name: "Ann Lee",
					email: "Ann@Example.com",
					version: 1,
					deletedAt: null,
					createdAt: new Date("2026-03-04T05:06:07.089Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "CREATED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 1 },
			});
	});
});

describe("clients: update", () => {
	const spec = specification((given: { client: ClientState | null; emailHolder: number | null }, command: UpdateClient, stamp) =>
		decideUpdateClient(given.client, command, given.emailHolder, stamp),
	);
	const ann: ClientState = { id: 5, name: "Ann", email: "ann@example.com", version: 2, deletedAt: null, createdAt: CREATED_AT, updatedAt: UPDATED_AT };

	test("given Ann at v2, when UPDATE name, then the new name at v3 with the email kept, and an UPDATED event at v3", () => {
		spec
			.given({ client: ann, emailHolder: null })
			.when({ id: 5, name: "Ann Lee" })
			.then({
				state: {
					id: 5,
					name: "Ann Lee",
					email: "ann@example.com",
					version: 3,
					deletedAt: null,
					createdAt: new Date("2026-01-02T03:04:05.006Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "UPDATED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 3 },
			});
	});

	test("given Ann at v2 and the email free, when UPDATE email and name, then both change at v3", () => {
		spec
			.given({ client: ann, emailHolder: null })
			.when({ id: 5, name: "Ann Lee", email: "lee@example.com" })
			.then({
				state: {
					id: 5,
					name: "Ann Lee",
					email: "lee@example.com",
					version: 3,
					deletedAt: null,
					createdAt: new Date("2026-01-02T03:04:05.006Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "UPDATED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 3 },
			});
	});

	test("given Ann at v7, when UPDATE her own email in other letters, then it is hers to change: v8", () => {
		spec
			.given({ client: { ...ann, version: 7 }, emailHolder: 5 })
			.when({ id: 5, email: "ANN@example.com" })
			.then({
				state: {
					id: 5,
					name: "Ann",
					email: "ANN@example.com",
					version: 8,
					deletedAt: null,
					createdAt: new Date("2026-01-02T03:04:05.006Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "UPDATED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 8 },
			});
	});

	test("given the email held by client 7, when UPDATE only the name, then the email is not in question: v3", () => {
		spec
			.given({ client: ann, emailHolder: 7 })
			.when({ id: 5, name: "Bo" })
			.then({
				state: {
					id: 5,
					name: "Bo",
					email: "ann@example.com",
					version: 3,
					deletedAt: null,
					createdAt: new Date("2026-01-02T03:04:05.006Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "UPDATED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 3 },
			});
	});

	test("given the email held by living client 7, when UPDATE to it, then 409 naming the email", () => {
		spec
			.given({ client: ann, emailHolder: 7 })
			.when({ id: 5, email: "bo@example.com" })
			.thenThrows(ConflictError, {
				code: 409,
				type: "CONFLICT",
				message: "A client with email 'bo@example.com' already exists",
				data: { field: "email", email: "bo@example.com" },
			});
	});

	test("given no client 5, when UPDATE, then 404", () => {
		spec
			.given({ client: null, emailHolder: null })
			.when({ id: 5, name: "Ann Lee" })
			.thenThrows(EntityNotFoundError, { code: 404, type: "NOT_FOUND", message: "Client 5 not found", data: { entity: "Client", id: 5 } });
	});

	test("given client 5 deleted at v4 and its new email taken, when UPDATE, then 404 (a deleted client is not there to conflict)", () => {
		spec
			.given({ client: { ...ann, version: 4, deletedAt: UPDATED_AT }, emailHolder: 7 })
			.when({ id: 5, email: "bo@example.com" })
			.thenThrows(EntityNotFoundError, { code: 404, data: { entity: "Client", id: 5 } });
	});
});

describe("clients: delete", () => {
	const spec = specification((client: ClientState | null, command: { id: number }, stamp) => decideDeleteClient(client, command, stamp));
	const ann: ClientState = { id: 5, name: "Ann", email: "ann@example.com", version: 2, deletedAt: null, createdAt: CREATED_AT, updatedAt: UPDATED_AT };

	test("given Ann at v2, when DELETE, then a tombstone at v3 with her last name and email, and a DELETED event at v3", () => {
		spec
			.given(ann)
			.when({ id: 5 })
			.then({
				state: {
					id: 5,
					name: "Ann",
					email: "ann@example.com",
					version: 3,
					deletedAt: new Date("2026-03-04T05:06:07.089Z"),
					createdAt: new Date("2026-01-02T03:04:05.006Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "DELETED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 3 },
			});
	});

	test("given the tombstone a DELETE left, when DELETE again, then 404 (run twice: nothing more is decided)", () => {
		const first = decideDeleteClient(ann, { id: 5 }, STAMP);
		spec.given(first.state).when({ id: 5 }).thenThrows(EntityNotFoundError, { code: 404, message: "Client 5 not found" });
	});

	test("given no client 5, when DELETE, then 404", () => {
		spec
			.given(null)
			.when({ id: 5 })
			.thenThrows(EntityNotFoundError, { code: 404, type: "NOT_FOUND", data: { entity: "Client", id: 5 } });
	});
});

describe("goals: create", () => {
	const spec = specification((client: ClientCopy | undefined, command: { clientId: number; goalName: string; targetCents: number }, stamp) =>
		decideCreateGoal(client, command, stamp),
	);
	const command = { clientId: 5, goalName: "House", targetCents: 2_500_000 };

	test("given our copy of client 5 alive as Ann, when CREATE, then a goal at version 1 carrying her name, and a CREATED event at version 1", () => {
		spec
			.given({ clientId: 5, name: "Ann", email: "ann@example.com", version: 4, deleted: false })
			.when(command)
			.then({
				state: {
					clientId: 5,
					clientName: "Ann",
					goalName: "House",
					targetCents: 2_500_000,
					version: 1,
					deletedAt: null,
					createdAt: new Date("2026-03-04T05:06:07.089Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "CREATED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 1 },
			});
	});

	test("given client 5's tombstone, when CREATE, then 422 on clientId", () => {
		spec
			.given({ clientId: 5, name: "Ann", email: "ann@example.com", version: 5, deleted: true })
			.when(command)
			.thenThrows(FieldValidationError, {
				code: 422,
				type: "VALIDATION_ERROR",
				data: [{ type: "clientNotFound", field: "clientId", message: "Client 5 does not exist or is deleted.", actual: 5 }],
			});
	});

	test("given no copy of client 5 (and the client service unreachable), when CREATE, then 503", () => {
		spec
			.given(undefined)
			.when(command)
			.thenThrows(DependencyUnavailableError, {
				code: 503,
				type: "SERVICE_UNAVAILABLE",
				message: "Cannot check client 5: the client service is unavailable and the client is unknown here",
				data: { service: "clients", clientId: 5 },
			});
	});
});

describe("goals: update", () => {
	const spec = specification((goal: GoalState | null, command: { id: number; goalName?: string; targetCents?: number }, stamp) =>
		decideUpdateGoal(goal, command, stamp),
	);
	const house: GoalState = {
		id: 9,
		clientId: 5,
		clientName: "Ann",
		goalName: "House",
		targetCents: 2_500_000,
		version: 1,
		deletedAt: null,
		createdAt: CREATED_AT,
		updatedAt: UPDATED_AT,
	};

	test("given goal 9 at v1, when UPDATE the target, then the new target at v2 with its name kept, and an UPDATED event at v2", () => {
		spec
			.given(house)
			.when({ id: 9, targetCents: 3_000_050 })
			.then({
				state: {
					id: 9,
					clientId: 5,
					clientName: "Ann",
					goalName: "House",
					targetCents: 3_000_050,
					version: 2,
					deletedAt: null,
					createdAt: new Date("2026-01-02T03:04:05.006Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "UPDATED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 2 },
			});
	});

	test("given goal 9 at v6, when UPDATE the name, then the new name at v7 with its target kept", () => {
		spec
			.given({ ...house, version: 6 })
			.when({ id: 9, goalName: "Boat" })
			.then({
				state: {
					id: 9,
					clientId: 5,
					clientName: "Ann",
					goalName: "Boat",
					targetCents: 2_500_000,
					version: 7,
					deletedAt: null,
					createdAt: new Date("2026-01-02T03:04:05.006Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "UPDATED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 7 },
			});
	});

	test("given no goal 9, when UPDATE, then 404", () => {
		spec
			.given(null)
			.when({ id: 9, goalName: "Boat" })
			.thenThrows(EntityNotFoundError, { code: 404, message: "Goal 9 not found", data: { entity: "Goal", id: 9 } });
	});

	test("given goal 9 deleted at v2, when UPDATE, then 404", () => {
		spec
			.given({ ...house, version: 2, deletedAt: UPDATED_AT })
			.when({ id: 9, goalName: "Boat" })
			.thenThrows(EntityNotFoundError, { code: 404, data: { entity: "Goal", id: 9 } });
	});
});

describe("goals: delete", () => {
	const spec = specification((goal: GoalState | null, command: { id: number }, stamp) => decideDeleteGoal(goal, command, stamp));
	const house: GoalState = {
		id: 9,
		clientId: 5,
		clientName: "Ann",
		goalName: "House",
		targetCents: 2_500_000,
		version: 3,
		deletedAt: null,
		createdAt: CREATED_AT,
		updatedAt: UPDATED_AT,
	};

	test("given goal 9 at v3, when DELETE, then a tombstone at v4 with its last values, and a DELETED event at v4", () => {
		spec
			.given(house)
			.when({ id: 9 })
			.then({
				state: {
					id: 9,
					clientId: 5,
					clientName: "Ann",
					goalName: "House",
					targetCents: 2_500_000,
					version: 4,
					deletedAt: new Date("2026-03-04T05:06:07.089Z"),
					createdAt: new Date("2026-01-02T03:04:05.006Z"),
					updatedAt: new Date("2026-03-04T05:06:07.089Z"),
				},
				event: { eventType: "DELETED", eventId: "0b5c7a1e-2f3d-4c5b-8a6e-7f8091a2b3c4", timestamp: "2026-03-04T05:06:07.089Z", version: 4 },
			});
	});

	test("given the tombstone a DELETE left, when DELETE again, then 404 (run twice: nothing more is decided)", () => {
		const first = decideDeleteGoal(house, { id: 9 }, STAMP);
		spec.given(first.state).when({ id: 9 }).thenThrows(EntityNotFoundError, { code: 404, message: "Goal 9 not found" });
	});

	test("given no goal 9, when DELETE, then 404", () => {
		spec
			.given(null)
			.when({ id: 9 })
			.thenThrows(EntityNotFoundError, { code: 404, data: { entity: "Goal", id: 9 } });
	});
});
