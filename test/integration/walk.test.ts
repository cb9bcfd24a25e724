/**
 * One client's life, end to end through real HTTP: its goals follow its renames and die with it,
 * each with its own DELETED event; Client.goals follows the goals; every audit trail is complete,
 * ordered by version, with sequences strictly increasing per producer.
 */
import { querySqlite } from "../helpers/sqlite";
import { useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const sut = useSystem();
const { api } = sut;

interface Event {
	eventId: string;
	eventType: string;
	source: string;
	sequence: number;
	version: number;
	[field: string]: unknown;
}

async function events(path: string): Promise<Event[]> {
	const res = await api.get<Event[]>(path);
	expect(res.status).toBe(200);
	return res.body;
}

/** Versions 1, 2, 3… with nothing missing, and sequences strictly increasing along them. */
function expectCompleteTrail(trail: Event[]): void {
	expect(trail.map((e) => e.version)).toEqual(trail.map((_, i) => i + 1));
	for (let i = 1; i < trail.length; i++) expect(trail[i].sequence).toBeGreaterThan(trail[i - 1].sequence);
	expect(new Set(trail.map((e) => e.eventId)).size).toBe(trail.length);
}

test("rename reaches the goals, delete cascades with DELETED events, audit trails are complete", async () => {
	// --- create a client and its goals: Client.goals follows creates, updates and deletes ----
	const owner = (await api.post("/clients", { name: "Walker", email: "walker@example.com" })).body;
	const house = (await api.post("/goals", { clientId: owner.id, goalName: "House", targetAmount: 300000 })).body;
	const car = (await api.post("/goals", { clientId: owner.id, goalName: "Car", targetAmount: 20000.5 })).body;
	const boat = (await api.post("/goals", { clientId: owner.id, goalName: "Boat", targetAmount: 99.99 })).body;
	for (const goal of [house, car, boat]) expect(goal).toMatchObject({ clientId: owner.id, clientName: "Walker", version: 1 });

	await waitFor(
		async () => {
			const goals = (await api.get(`/clients/${owner.id}`)).body.goals;
			expect(goals).toEqual([
				{ id: house.id, goalName: "House", targetAmount: 300000 },
				{ id: car.id, goalName: "Car", targetAmount: 20000.5 },
				{ id: boat.id, goalName: "Boat", targetAmount: 99.99 },
			]);
			return true;
		},
		{ timeoutMs: 1000, what: "Client.goals to list the three new goals" },
	);

	const updated = await api.put(`/goals/${house.id}`, { goalName: "Bigger house", targetAmount: 450000.25 });
	expect(updated.status).toBe(200);
	expect(updated.body.version).toBe(2);
	expect((await api.del(`/goals/${boat.id}`)).status).toBe(204);
	await waitFor(
		async () => {
			const goals = (await api.get(`/clients/${owner.id}`)).body.goals;
			expect(goals).toEqual([
				{ id: house.id, goalName: "Bigger house", targetAmount: 450000.25 },
				{ id: car.id, goalName: "Car", targetAmount: 20000.5 },
			]);
			return true;
		},
		{ timeoutMs: 1000, what: "Client.goals to show the update and drop the deleted goal" },
	);

	// --- rename: both living goals show the new clientName within a second ------------------
	// read them first, so that a cached copy of the old name would be what a stale read returns
	for (const goal of [house, car]) expect((await api.get(`/goals/${goal.id}`)).body.clientName).toBe("Walker");
	const renamed = await api.put(`/clients/${owner.id}`, { name: "Walker Renamed" });
	expect(renamed.status).toBe(200);
	expect(renamed.body.version).toBe(2);
	await waitFor(
		async () => {
			for (const goal of [house, car]) {
				const res = await api.get(`/goals/${goal.id}`);
				expect(res.status).toBe(200);
				expect(res.body.clientName).toBe("Walker Renamed");
			}
			return true;
		},
		{ timeoutMs: 1000, what: "both goals to carry the new clientName" },
	);
	// a rename is not a change of the goals: no new goal version, no goal event
	expect((await api.get(`/goals/${house.id}`)).body.version).toBe(2);
	expect((await api.get(`/goals/${car.id}`)).body.version).toBe(1);
	const list = (await api.get(`/goals?clientId=${owner.id}`)).body;
	expect(list.rows.map((g: { clientName: string }) => g.clientName)).toEqual(["Walker Renamed", "Walker Renamed"]);

	// --- delete the client: its goals go, each with its own DELETED event -------------------
	const before = {
		house: (await api.get(`/goals/${house.id}`)).body,
		car: (await api.get(`/goals/${car.id}`)).body,
	};
	expect((await api.del(`/clients/${owner.id}`)).status).toBe(204);
	expect((await api.get(`/clients/${owner.id}`)).status).toBe(404);
	await waitFor(
		async () => {
			expect((await api.get(`/goals/${house.id}`)).status).toBe(404);
			expect((await api.get(`/goals/${car.id}`)).status).toBe(404);
			return true;
		},
		{ timeoutMs: 1000, what: "the client's goals to be deleted" },
	);
	expect((await api.get(`/goals?clientId=${owner.id}`)).body.total).toBe(0);
	expect((await api.post("/goals", { clientId: owner.id, goalName: "Late", targetAmount: 1 })).status).toBe(422);

	for (const goal of [before.house, before.car]) {
		const trail = await events(`/goals/${goal.id}/events`);
		const last = trail[trail.length - 1];
		expect(last).toMatchObject({
			eventType: "DELETED",
			source: "goals",
			version: goal.version + 1,
			goalId: goal.id,
			clientId: owner.id,
			goalName: goal.goalName,
			targetAmount: goal.targetAmount,
		});
		expect(trail.filter((e) => e.eventType === "DELETED")).toHaveLength(1);
	}

	// --- audit trails: complete, by version, sequences strictly increasing per producer -----
	const clientTrail = await events(`/clients/${owner.id}/events`);
	expect(clientTrail.map((e) => [e.eventType, e.version])).toEqual([
		["CREATED", 1],
		["UPDATED", 2],
		["DELETED", 3],
	]);
	expectCompleteTrail(clientTrail);
	expect(clientTrail.every((e) => e.source === "clients" && e.clientId === owner.id)).toBe(true);
	expect(clientTrail.map((e) => e.clientName)).toEqual(["Walker", "Walker Renamed", "Walker Renamed"]);
	expect(clientTrail[2]).toMatchObject({ clientEmail: "walker@example.com" });

	const houseTrail = await events(`/goals/${house.id}/events`);
	const carTrail = await events(`/goals/${car.id}/events`);
	const boatTrail = await events(`/goals/${boat.id}/events`);
	expect(houseTrail.map((e) => [e.eventType, e.version])).toEqual([
		["CREATED", 1],
		["UPDATED", 2],
		["DELETED", 3],
	]);
	expect(houseTrail.map((e) => [e.goalName, e.targetAmount])).toEqual([
		["House", 300000],
		["Bigger house", 450000.25],
		["Bigger house", 450000.25],
	]);
	expect(carTrail.map((e) => [e.eventType, e.version])).toEqual([
		["CREATED", 1],
		["DELETED", 2],
	]);
	expect(boatTrail.map((e) => [e.eventType, e.version])).toEqual([
		["CREATED", 1],
		["DELETED", 2],
	]);
	for (const trail of [houseTrail, carTrail, boatTrail]) {
		expectCompleteTrail(trail);
		expect(trail.every((e) => e.source === "goals")).toBe(true);
	}
	// across entities, one producer never reuses a sequence, and its log order is the order of
	// the changes: the goals were created in order, and the cascade came after the boat's delete
	const goalSequences = [...houseTrail, ...carTrail, ...boatTrail].map((e) => e.sequence);
	expect(new Set(goalSequences).size).toBe(goalSequences.length);
	expect(houseTrail[0].sequence).toBeLessThan(carTrail[0].sequence);
	expect(carTrail[0].sequence).toBeLessThan(boatTrail[0].sequence);
	expect(boatTrail[1].sequence).toBeLessThan(houseTrail[2].sequence);
	expect(boatTrail[1].sequence).toBeLessThan(carTrail[1].sequence);

	// --- the client service's own copy of the goals saw the cascade too ---------------------
	await waitFor(
		async () => {
			const copies = await querySqlite<{ goalId: number; version: number; deleted: number }>(
				sut.system.dataDir,
				"clients",
				"SELECT goalId, version, deleted FROM goal_projection WHERE clientId = :clientId ORDER BY goalId",
				{ clientId: owner.id },
			);
			expect(copies.map((c) => [c.goalId, c.version, Boolean(c.deleted)])).toEqual([
				[house.id, 3, true],
				[car.id, 2, true],
				[boat.id, 2, true],
			]);
			return true;
		},
		{ timeoutMs: 1000, what: "the client service's goal projection to hold the DELETED versions" },
	);
});
