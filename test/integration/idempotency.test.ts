/**
 * Consumers are idempotent and version-guarded: events delivered straight through the broker
 * (real ones read from the audit routes, or crafted with exactly the contract's fields) that are
 * duplicates, older than what is held, or replayed from the start change nothing; a DELETED
 * tombstone is never resurrected by a late UPDATED.
 *
 * Without a transporter `broker.emit` resolves once the local handlers have finished, so the
 * state read right after it is the state the event left behind.
 */
import { randomUUID } from "node:crypto";
import { lastSequenceOf, querySqlite } from "../helpers/sqlite";
import { useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const sut = useSystem();
const { api } = sut;

interface WireEvent {
	eventId: string;
	eventType: "CREATED" | "UPDATED" | "DELETED";
	source: "clients" | "goals";
	timestamp: string;
	sequence: number;
	version: number;
	[field: string]: unknown;
}

function eventName(event: WireEvent): string {
	const entity = event.source === "clients" ? "client" : "goal";
	return `${entity}.${event.eventType.toLowerCase()}`;
}

async function deliver(...events: WireEvent[]): Promise<void> {
	for (const event of events) await sut.system.broker.emit(eventName(event), event);
}

async function trail(path: string): Promise<WireEvent[]> {
	const res = await api.get<WireEvent[]>(path);
	expect(res.status).toBe(200);
	return res.body;
}

/** Everything the consumers could touch, on both sides, read from the SQLite files. */
async function snapshot() {
	const dir = sut.system.dataDir;
	return {
		goals: await querySqlite(dir, "goals", "SELECT * FROM goals ORDER BY id"),
		clientProjection: await querySqlite(dir, "goals", "SELECT * FROM client_projection ORDER BY clientId"),
		goalLog: await querySqlite(dir, "goals", "SELECT sequence, eventId, version FROM event_log ORDER BY sequence"),
		goalsCheckpoints: await querySqlite(dir, "goals", "SELECT * FROM checkpoints ORDER BY producer"),
		clients: await querySqlite(dir, "clients", "SELECT * FROM clients ORDER BY id"),
		goalProjection: await querySqlite(dir, "clients", "SELECT * FROM goal_projection ORDER BY goalId"),
		clientLog: await querySqlite(dir, "clients", "SELECT sequence, eventId, version FROM event_log ORDER BY sequence"),
		clientsCheckpoints: await querySqlite(dir, "clients", "SELECT * FROM checkpoints ORDER BY producer"),
	};
}

/** What the REST API shows of a client and its goals. */
async function view(clientId: number, goalIds: number[]) {
	return {
		client: await api.get(`/clients/${clientId}`),
		goals: await Promise.all(goalIds.map((id) => api.get(`/goals/${id}`))),
		goalTrails: await Promise.all(goalIds.map((id) => api.get(`/goals/${id}/events`))),
	};
}

function strip(v: Awaited<ReturnType<typeof view>>) {
	return {
		client: [v.client.status, v.client.body],
		goals: v.goals.map((r) => [r.status, r.body]),
		goalTrails: v.goalTrails.map((r) => [r.status, r.body]),
	};
}

async function clientWithGoals(name: string, email: string, goalNames: string[]) {
	const owner = (await api.post("/clients", { name, email })).body;
	const goals: { id: number; version: number }[] = [];
	for (const goalName of goalNames) {
		const res = await api.post("/goals", { clientId: owner.id, goalName, targetAmount: 100 });
		expect(res.status).toBe(201);
		goals.push(res.body);
	}
	await waitFor(async () => (await api.get(`/clients/${owner.id}`)).body.goals.length === goalNames.length, {
		timeoutMs: 1000,
		what: `Client.goals of ${name}`,
	});
	return { owner, goals };
}

async function expectClientName(goalIds: number[], clientName: string): Promise<void> {
	await waitFor(
		async () => {
			for (const id of goalIds) expect((await api.get(`/goals/${id}`)).body.clientName).toBe(clientName);
			return true;
		},
		{ timeoutMs: 1000, what: `clientName ${clientName}` },
	);
}

test("the same client event delivered twice changes nothing", async () => {
	const { owner, goals } = await clientWithGoals("Ann", "ann.idem@example.com", ["Flat", "Bike"]);
	expect((await api.put(`/clients/${owner.id}`, { name: "Ann B" })).status).toBe(200);
	const ids = goals.map((g) => g.id);
	await expectClientName(ids, "Ann B");

	const [created, updated] = await trail(`/clients/${owner.id}/events`);
	const before = await snapshot();
	const shown = strip(await view(owner.id, ids));

	await deliver(updated, updated, created, created, updated);

	expect(await snapshot()).toEqual(before);
	expect(strip(await view(owner.id, ids))).toEqual(shown);
	for (const goal of (await view(owner.id, ids)).goals) expect(goal.body).toMatchObject({ clientName: "Ann B", version: 1 });
});

test("an older version delivered after a newer one is a no-op", async () => {
	const { owner, goals } = await clientWithGoals("Ben", "ben.idem@example.com", ["Farm", "Tractor"]);
	const ids = goals.map((g) => g.id);
	await api.put(`/clients/${owner.id}`, { name: "Ben Two" });
	await api.put(`/clients/${owner.id}`, { name: "Ben Three" });
	await expectClientName(ids, "Ben Three");

	const [created, second, third] = await trail(`/clients/${owner.id}/events`);
	expect([created.version, second.version, third.version]).toEqual([1, 2, 3]);
	const before = await snapshot();

	// late and out of order: the second rename, then the creation, after the third rename
	await deliver(second, created, second);

	expect(await snapshot()).toEqual(before);
	for (const id of ids) expect((await api.get(`/goals/${id}`)).body).toMatchObject({ clientName: "Ben Three", version: 1 });
	const [copy] = await querySqlite<{ name: string; version: number }>(
		sut.system.dataDir,
		"goals",
		"SELECT name, version FROM client_projection WHERE clientId = :id",
		{ id: owner.id },
	);
	expect(copy).toMatchObject({ name: "Ben Three", version: 3 });
});

test("a DELETED delivered before a late UPDATED stays deleted: tombstone kept, goals stay deleted, new goals 422", async () => {
	const { owner, goals } = await clientWithGoals("Cat", "cat.idem@example.com", ["Studio", "Piano"]);
	const ids = goals.map((g) => g.id);
	const producerLast = await lastSequenceOf(sut.system.dataDir, "clients");
	// Crafted with the contract's exact fields. Their sequences lie far beyond the log's end so
	// they read as a gap (catch-up finds nothing new) and can never move the checkpoint.
	const base = { source: "clients" as const, clientId: owner.id, clientEmail: "cat.idem@example.com" };
	const lateUpdate: WireEvent = {
		...base,
		eventId: randomUUID(),
		eventType: "UPDATED",
		timestamp: new Date().toISOString(),
		sequence: producerLast + 1000,
		version: 2,
		clientName: "Cat Resurrected",
	};
	const deletion: WireEvent = {
		...base,
		eventId: randomUUID(),
		eventType: "DELETED",
		timestamp: new Date().toISOString(),
		sequence: producerLast + 1001,
		version: 3,
		clientName: "Cat",
	};

	await deliver(deletion);
	await waitFor(
		async () => {
			for (const id of ids) expect((await api.get(`/goals/${id}`)).status).toBe(404);
			expect((await api.get(`/clients/${owner.id}`)).body.goals).toEqual([]);
			return true;
		},
		{ timeoutMs: 1000, what: "the cascade of the crafted DELETED" },
	);
	for (const id of ids) {
		const events = await trail(`/goals/${id}/events`);
		expect(events.map((e) => [e.eventType, e.version])).toEqual([
			["CREATED", 1],
			["DELETED", 2],
		]);
	}
	const afterDelete = await snapshot();

	await deliver(lateUpdate, deletion, lateUpdate);

	expect(await snapshot()).toEqual(afterDelete);
	const [copy] = await querySqlite<{ name: string; version: number; deleted: number }>(
		sut.system.dataDir,
		"goals",
		"SELECT name, version, deleted FROM client_projection WHERE clientId = :id",
		{ id: owner.id },
	);
	expect({ ...copy, deleted: Boolean(copy.deleted) }).toEqual({ name: "Cat", version: 3, deleted: true });
	for (const id of ids) expect((await api.get(`/goals/${id}`)).status).toBe(404);
	expect((await api.get(`/goals?clientId=${owner.id}`)).body.total).toBe(0);
	expect((await api.get(`/clients/${owner.id}`)).body.goals).toEqual([]);

	// The client service itself never saw a deletion and answers "alive, version 1"; the goal
	// service's tombstone is newer and wins.
	const rejected = await api.post("/goals", { clientId: owner.id, goalName: "Again", targetAmount: 5 });
	expect(rejected.status).toBe(422);
	expect(rejected.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ field: "clientId" })]));
	expect(await snapshot()).toEqual(afterDelete);
});

test("goal events replayed to the client service do not change Client.goals", async () => {
	const { owner, goals } = await clientWithGoals("Dan", "dan.idem@example.com", ["Loft", "Yacht", "Watch"]);
	const [loft, yacht, watch] = goals;
	await api.put(`/goals/${loft.id}`, { goalName: "Big loft", targetAmount: 123.45 });
	await api.put(`/goals/${loft.id}`, { targetAmount: 678.9 });
	await api.del(`/goals/${yacht.id}`);
	const expected = [
		{ id: loft.id, goalName: "Big loft", targetAmount: 678.9 },
		{ id: watch.id, goalName: "Watch", targetAmount: 100 },
	];
	await waitFor(
		async () => {
			expect((await api.get(`/clients/${owner.id}`)).body.goals).toEqual(expected);
			return true;
		},
		{ timeoutMs: 1000, what: "Client.goals after update and delete" },
	);

	const events = [
		...(await trail(`/goals/${loft.id}/events`)),
		...(await trail(`/goals/${yacht.id}/events`)),
		...(await trail(`/goals/${watch.id}/events`)),
	].sort((a, b) => a.sequence - b.sequence);
	expect(events).toHaveLength(6);
	const before = await snapshot();

	await deliver(...events); // in log order, again
	await deliver(...[...events].reverse()); // newest first: every older one must be a no-op
	await deliver(events[0], events[0]); // the goal's creation, twice

	expect(await snapshot()).toEqual(before);
	expect((await api.get(`/clients/${owner.id}`)).body.goals).toEqual(expected);
});

test("replay from zero: the whole client log emitted again leaves every state unchanged", async () => {
	// one more client whose goals were cascaded for real, so the replay includes a real DELETED
	const { owner, goals } = await clientWithGoals("Eve", "eve.idem@example.com", ["Garden"]);
	await api.put(`/clients/${owner.id}`, { name: "Eve Two", email: "eve2.idem@example.com" });
	expect((await api.del(`/clients/${owner.id}`)).status).toBe(204);
	await waitFor(async () => (await api.get(`/goals/${goals[0].id}`)).status === 404, {
		timeoutMs: 1000,
		what: "Eve's goal to be deleted",
	});

	const all: WireEvent[] = [];
	const clientIds = (await querySqlite<{ id: number }>(sut.system.dataDir, "clients", "SELECT id FROM clients ORDER BY id")).map((row) => row.id);
	for (const id of clientIds) all.push(...(await trail(`/clients/${id}/events`)));
	all.sort((a, b) => a.sequence - b.sequence);
	// the audit routes together are the whole log: sequences 1..N, nothing missing
	expect(all.map((e) => e.sequence)).toEqual(all.map((_, i) => i + 1));
	expect(all[all.length - 1].sequence).toBe(await lastSequenceOf(sut.system.dataDir, "clients"));

	const before = await snapshot();
	const goalRows = before.goals.length;
	expect(goalRows).toBeGreaterThan(0);

	await deliver(...all);

	expect(await snapshot()).toEqual(before);
	expect((await api.get(`/goals/${goals[0].id}`)).status).toBe(404);
	expect((await api.post("/goals", { clientId: owner.id, goalName: "Back", targetAmount: 1 })).status).toBe(422);
});
