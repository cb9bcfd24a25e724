/**
 * Nothing is lost across restarts and outages: data, projections and checkpoints survive a
 * restart on the same SQLite files; a goal (or client) service that was not running catches up
 * from the other's log when it starts; a publish that never happened is repaired as soon as a
 * later event shows the gap.
 */
import { randomUUID } from "node:crypto";
import { QueryTypes } from "sequelize";
import { client } from "../helpers/http";
import { checkpointOf, lastSequenceOf, querySqlite, withSqlite } from "../helpers/sqlite";
import { removeDir, startSystem, tempDataDir, type TestSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const running = new Set<TestSystem>();
const dirs: string[] = [];

async function start(dataDir: string, env: Record<string, string> = {}): Promise<TestSystem> {
	const system = await startSystem({ dataDir, env });
	running.add(system);
	return system;
}

async function stop(system: TestSystem): Promise<void> {
	running.delete(system);
	await system.stop();
}

function newDataDir(): string {
	const dir = tempDataDir();
	dirs.push(dir);
	return dir;
}

afterEach(async () => {
	for (const system of [...running]) await stop(system);
});

afterAll(() => {
	for (const dir of dirs) removeDir(dir);
});

type Api = ReturnType<typeof client>;

/** Wait until a consumer has read its producer's log to the end (joins a running catch-up). */
function caughtUp(system: TestSystem, consumer: "clients" | "goals"): Promise<void> {
	const service = system.broker.getLocalService(consumer) as unknown as { requestCatchUp(reason: string): Promise<void> };
	return service.requestCatchUp("test");
}

/** Every table both services keep, read from the files. */
async function snapshot(dataDir: string) {
	const read = (db: "clients" | "goals", table: string, order: string) => querySqlite(dataDir, db, `SELECT * FROM ${table} ORDER BY ${order}`);
	return {
		clients: await read("clients", "clients", "id"),
		goalProjection: await read("clients", "goal_projection", "goalId"),
		clientLog: await read("clients", "event_log", "sequence"),
		clientsCheckpoints: await read("clients", "checkpoints", "producer"),
		goals: await read("goals", "goals", "id"),
		clientProjection: await read("goals", "client_projection", "clientId"),
		goalLog: await read("goals", "event_log", "sequence"),
		goalsCheckpoints: await read("goals", "checkpoints", "producer"),
	};
}

async function expectCheckpointsAtEnd(dataDir: string): Promise<void> {
	expect(await checkpointOf(dataDir, "goals", "clients")).toBe(await lastSequenceOf(dataDir, "clients"));
	expect(await checkpointOf(dataDir, "clients", "goals")).toBe(await lastSequenceOf(dataDir, "goals"));
}

async function createGoal(api: Api, clientId: number, goalName: string, targetAmount = 10) {
	const res = await api.post("/goals", { clientId, goalName, targetAmount });
	expect(res.status).toBe(201);
	return res.body as { id: number; version: number; goalName: string; targetAmount: number; clientName: string };
}

test("a restart on the same files keeps data, projections and checkpoints; nothing is applied again", async () => {
	const dataDir = newDataDir();
	const first = await start(dataDir);
	let api = client(first.url);

	const ann = (await api.post("/clients", { name: "Ann", email: "ann.persist@example.com" })).body;
	const bob = (await api.post("/clients", { name: "Bob", email: "bob.persist@example.com" })).body;
	const house = await createGoal(api, ann.id, "House", 1000.1);
	const car = await createGoal(api, ann.id, "Car", 20.2);
	const boat = await createGoal(api, bob.id, "Boat", 3);
	await api.put(`/clients/${ann.id}`, { name: "Ann Renamed" });
	await api.put(`/goals/${car.id}`, { targetAmount: 25.25 });
	await api.del(`/goals/${boat.id}`);

	const paths = [
		`/clients/${ann.id}`,
		`/clients/${bob.id}`,
		`/goals/${house.id}`,
		`/goals/${car.id}`,
		`/goals/${boat.id}`,
		`/goals?clientId=${ann.id}`,
		`/clients/${ann.id}/events`,
		`/clients/${bob.id}/events`,
		`/goals/${house.id}/events`,
		`/goals/${car.id}/events`,
		`/goals/${boat.id}/events`,
	];
	const views = async (a: Api) =>
		Promise.all(
			paths.map(async (p) => {
				const res = await a.get(p);
				return [p, res.status, res.body];
			}),
		);

	await waitFor(
		async () => {
			expect((await api.get(`/goals/${house.id}`)).body.clientName).toBe("Ann Renamed");
			expect((await api.get(`/clients/${ann.id}`)).body.goals).toEqual([
				{ id: house.id, goalName: "House", targetAmount: 1000.1 },
				{ id: car.id, goalName: "Car", targetAmount: 25.25 },
			]);
			expect((await api.get(`/clients/${bob.id}`)).body.goals).toEqual([]);
			return true;
		},
		{ timeoutMs: 1000, what: "projections before the restart" },
	);
	// the live path alone keeps both checkpoints at the end of their producer's log
	await waitFor(
		async () => {
			await expectCheckpointsAtEnd(dataDir);
			return true;
		},
		{ timeoutMs: 1000, what: "both checkpoints at the end of the logs" },
	);
	const shownBefore = await views(api);
	await stop(first);

	const stored = await snapshot(dataDir);
	await expectCheckpointsAtEnd(dataDir);
	// 3 client events (2 creates, 1 rename), 5 goal events (3 creates, 1 update, 1 delete)
	expect(await checkpointOf(dataDir, "goals", "clients")).toBe(3);
	expect(await checkpointOf(dataDir, "clients", "goals")).toBe(5);

	const second = await start(dataDir);
	api = client(second.url);
	await caughtUp(second, "goals");
	await caughtUp(second, "clients");

	expect(await views(api)).toEqual(shownBefore);
	expect(await snapshot(dataDir)).toEqual(stored);

	// the checkpoints are contiguous: the next live event simply advances them by one
	await api.put(`/clients/${bob.id}`, { name: "Bob Renamed" });
	await waitFor(async () => (await checkpointOf(dataDir, "goals", "clients")) === (await lastSequenceOf(dataDir, "clients")), {
		timeoutMs: 1000,
		what: "the goals checkpoint to follow the live rename",
	});
	expect(await checkpointOf(dataDir, "goals", "clients")).toBe(Number((stored.goalsCheckpoints[0] as { sequence: number }).sequence) + 1);
	const bobGoal = await createGoal(api, bob.id, "Kayak");
	expect(bobGoal.clientName).toBe("Bob Renamed");
});

test("a goal service that was down catches up from the client log when it starts", async () => {
	const dataDir = newDataDir();

	// 1. the whole system: clients and their goals
	const full = await start(dataDir);
	let api = client(full.url);
	const ann = (await api.post("/clients", { name: "Ann", email: "ann.catchup@example.com" })).body;
	const bob = (await api.post("/clients", { name: "Bob", email: "bob.catchup@example.com" })).body;
	const annGoals = [await createGoal(api, ann.id, "House"), await createGoal(api, ann.id, "Car")];
	const bobGoals = [await createGoal(api, bob.id, "Boat", 12.34), await createGoal(api, bob.id, "Bike", 5)];
	await api.put(`/goals/${bobGoals[1].id}`, { goalName: "E-bike" });
	await waitFor(async () => (await api.get(`/clients/${bob.id}`)).body.goals.length === 2, {
		timeoutMs: 1000,
		what: "Bob's goals in Client.goals",
	});
	await stop(full);
	const goalsCheckpointBefore = await checkpointOf(dataDir, "goals", "clients");

	// 2. the goal service is down: rename, delete and create clients
	const clientsOnly = await start(dataDir, { SERVICES: "clients,api", CATCHUP_INTERVAL: "200", LOG_LEVEL: "error" });
	api = client(clientsOnly.url);
	expect((await api.put(`/clients/${ann.id}`, { name: "Ann Two" })).status).toBe(200);
	expect((await api.put(`/clients/${ann.id}`, { name: "Ann Three", email: "ann3.catchup@example.com" })).status).toBe(200);
	expect((await api.del(`/clients/${bob.id}`)).status).toBe(204);
	const cid = (await api.post("/clients", { name: "Cid", email: "cid.catchup@example.com" })).body;
	expect((await api.put(`/clients/${cid.id}`, { name: "Cid Two" })).status).toBe(200);
	expect(await lastSequenceOf(dataDir, "clients")).toBe(goalsCheckpointBefore + 5);
	await stop(clientsOnly);
	// nobody consumed those events: the goal service's files are as they were
	expect(await checkpointOf(dataDir, "goals", "clients")).toBe(goalsCheckpointBefore);

	// 3. everything again, with the timer far away: the catch-up on start must do it
	const back = await start(dataDir, { CATCHUP_INTERVAL: "60000" });
	api = client(back.url);
	await waitFor(
		async () => {
			for (const goal of annGoals) {
				const res = await api.get(`/goals/${goal.id}`);
				expect(res.status).toBe(200);
				expect(res.body).toMatchObject({ clientName: "Ann Three", version: 1 });
			}
			for (const goal of bobGoals) expect((await api.get(`/goals/${goal.id}`)).status).toBe(404);
			expect(await checkpointOf(dataDir, "goals", "clients")).toBe(await lastSequenceOf(dataDir, "clients"));
			return true;
		},
		{ timeoutMs: 5000, what: "the goal service to catch up on start" },
	);

	// Bob's goals were deleted each with its own DELETED event carrying their last values
	const expectedLast = [
		{ goalName: "Boat", targetAmount: 12.34, version: 2 },
		{ goalName: "E-bike", targetAmount: 5, version: 3 },
	];
	for (const [i, goal] of bobGoals.entries()) {
		const trail = (await api.get(`/goals/${goal.id}/events`)).body as { eventType: string; version: number }[];
		expect(trail.map((e) => e.version)).toEqual(trail.map((_, v) => v + 1));
		expect(trail[trail.length - 1]).toMatchObject({ eventType: "DELETED", goalId: goal.id, clientId: bob.id, ...expectedLast[i] });
		expect(trail.filter((e) => e.eventType === "DELETED")).toHaveLength(1);
	}

	// the goal service's copy of every client is current, tombstone included
	const copies = await querySqlite<{ clientId: number; name: string; email: string; version: number; deleted: number }>(
		dataDir,
		"goals",
		"SELECT clientId, name, email, version, deleted FROM client_projection ORDER BY clientId",
	);
	expect(copies.map((c) => ({ ...c, deleted: Boolean(c.deleted) }))).toEqual([
		{ clientId: ann.id, name: "Ann Three", email: "ann3.catchup@example.com", version: 3, deleted: false },
		{ clientId: bob.id, name: "Bob", email: "bob.catchup@example.com", version: 2, deleted: true },
		{ clientId: cid.id, name: "Cid Two", email: "cid.catchup@example.com", version: 2, deleted: false },
	]);

	// the cascade's goal events reached the client service too
	await waitFor(
		async () => {
			const rows = await querySqlite<{ goalId: number; deleted: number }>(
				dataDir,
				"clients",
				"SELECT goalId, deleted FROM goal_projection WHERE clientId = :id ORDER BY goalId",
				{ id: bob.id },
			);
			expect(rows.map((r) => [r.goalId, Boolean(r.deleted)])).toEqual(bobGoals.map((g) => [g.id, true]));
			expect(await checkpointOf(dataDir, "clients", "goals")).toBe(await lastSequenceOf(dataDir, "goals"));
			return true;
		},
		{ timeoutMs: 2000, what: "the client service's goal projection to see the cascade" },
	);

	expect((await api.post("/goals", { clientId: bob.id, goalName: "Again", targetAmount: 1 })).status).toBe(422);
	expect((await createGoal(api, cid.id, "Guitar")).clientName).toBe("Cid Two");
	expect((await api.get(`/clients/${ann.id}`)).body.goals.map((g: { id: number }) => g.id)).toEqual(annGoals.map((g) => g.id));
});

test("a client service that was down catches up the goal events when it starts", async () => {
	const dataDir = newDataDir();
	const full = await start(dataDir);
	let api = client(full.url);
	const ann = (await api.post("/clients", { name: "Ann", email: "ann.goalsdown@example.com" })).body;
	const house = await createGoal(api, ann.id, "House", 10);
	const car = await createGoal(api, ann.id, "Car", 20);
	await waitFor(async () => (await api.get(`/clients/${ann.id}`)).body.goals.length === 2, {
		timeoutMs: 1000,
		what: "Client.goals before the outage",
	});
	await stop(full);

	// the client service is down: goals change, and a new goal is accepted on the goal
	// service's own copy of the client (known and alive)
	const goalsOnly = await start(dataDir, { SERVICES: "goals,api", CATCHUP_INTERVAL: "200", LOG_LEVEL: "fatal" });
	api = client(goalsOnly.url);
	expect((await api.put(`/goals/${house.id}`, { goalName: "Bigger house", targetAmount: 15.5 })).status).toBe(200);
	expect((await api.del(`/goals/${car.id}`)).status).toBe(204);
	const boat = await createGoal(api, ann.id, "Boat", 30);
	expect(boat.clientName).toBe("Ann");
	await stop(goalsOnly);

	const back = await start(dataDir, { CATCHUP_INTERVAL: "60000" });
	api = client(back.url);
	await waitFor(
		async () => {
			expect((await api.get(`/clients/${ann.id}`)).body.goals).toEqual([
				{ id: house.id, goalName: "Bigger house", targetAmount: 15.5 },
				{ id: boat.id, goalName: "Boat", targetAmount: 30 },
			]);
			expect(await checkpointOf(dataDir, "clients", "goals")).toBe(await lastSequenceOf(dataDir, "goals"));
			return true;
		},
		{ timeoutMs: 5000, what: "the client service to catch up on start" },
	);
});

describe("a gap in the live events is repaired from the log", () => {
	let system: TestSystem;
	let api: Api;

	/**
	 * Commit a rename in the client service's files with its event-log row, and publish nothing:
	 * what a crash between commit and emit leaves behind.
	 */
	async function renameWithoutPublishing(clientId: number, name: string): Promise<number> {
		return withSqlite(system.dataDir, "clients", (sequelize) =>
			sequelize.transaction(async (transaction) => {
				const [row] = await sequelize.query<{ email: string; version: number }>("SELECT email, version FROM clients WHERE id = :clientId", {
					replacements: { clientId },
					transaction,
					type: QueryTypes.SELECT,
				});
				const version = Number(row.version) + 1;
				await sequelize.query("UPDATE clients SET name = :name, version = :version WHERE id = :clientId", {
					replacements: { name, version, clientId },
					transaction,
				});
				await sequelize.query(
					`INSERT INTO event_log (eventId, eventType, entityId, version, payload, timestamp)
					 VALUES (:eventId, 'UPDATED', :clientId, :version, :payload, :timestamp)`,
					{
						replacements: {
							eventId: randomUUID(),
							clientId,
							version,
							payload: JSON.stringify({ clientId, clientName: name, clientEmail: row.email }),
							timestamp: new Date().toISOString(),
						},
						transaction,
					},
				);
				return version;
			}),
		);
	}

	/**
	 * Two clients with a goal each, and then one change on each side made while the consumer of
	 * that side was not running. Both consumers' first catch-up on start thus has something to
	 * apply: once both checkpoints reach the end of the logs, those catch-ups are over, and with
	 * the timer an hour away only a gap can start another one. (It also keeps our own writes to
	 * the client service's file from racing a catch-up transaction of that service.)
	 */
	async function twoClientsWithGoals() {
		const dataDir = newDataDir();
		const full = await start(dataDir);
		let early = client(full.url);
		const gus = (await early.post("/clients", { name: "Gus", email: "gus.gap@example.com" })).body;
		const hal = (await early.post("/clients", { name: "Hal", email: "hal.gap@example.com" })).body;
		const gusGoal = await createGoal(early, gus.id, "Gold");
		const halGoal = await createGoal(early, hal.id, "Horse");
		await stop(full);

		const clientsOnly = await start(dataDir, { SERVICES: "clients,api", CATCHUP_INTERVAL: "200", LOG_LEVEL: "error" });
		early = client(clientsOnly.url);
		expect((await early.put(`/clients/${gus.id}`, { email: "gus2.gap@example.com" })).status).toBe(200);
		await stop(clientsOnly);
		const goalsOnly = await start(dataDir, { SERVICES: "goals,api", CATCHUP_INTERVAL: "200", LOG_LEVEL: "fatal" });
		early = client(goalsOnly.url);
		expect((await early.put(`/goals/${halGoal.id}`, { targetAmount: 11 })).status).toBe(200);
		await stop(goalsOnly);

		system = await start(dataDir, { CATCHUP_INTERVAL: "3600000" });
		api = client(system.url);
		await waitFor(
			async () => {
				expect(await checkpointOf(dataDir, "goals", "clients")).toBe(3);
				expect(await checkpointOf(dataDir, "clients", "goals")).toBe(3);
				return true;
			},
			{ timeoutMs: 5000, what: "both consumers' catch-up on start" },
		);
		return { gus, hal, gusGoal, halGoal };
	}

	test("a lost publish is caught up when the next live event arrives", async () => {
		const { gus, hal, gusGoal, halGoal } = await twoClientsWithGoals();
		expect(await renameWithoutPublishing(gus.id, "Gus Lost")).toBe(3);
		expect(await lastSequenceOf(system.dataDir, "clients")).toBe(4);
		// nothing told the goal service: it still has the old name and checkpoint
		expect((await api.get(`/goals/${gusGoal.id}`)).body.clientName).toBe("Gus");
		expect(await checkpointOf(system.dataDir, "goals", "clients")).toBe(3);

		// the next change is published (sequence 5): the goal service sees 4 is missing
		expect((await api.put(`/clients/${hal.id}`, { name: "Hal Live" })).status).toBe(200);
		await waitFor(
			async () => {
				expect((await api.get(`/goals/${halGoal.id}`)).body.clientName).toBe("Hal Live");
				expect((await api.get(`/goals/${gusGoal.id}`)).body.clientName).toBe("Gus Lost");
				expect(await checkpointOf(system.dataDir, "goals", "clients")).toBe(5);
				return true;
			},
			{ timeoutMs: 2000, what: "the missed rename to be caught up" },
		);
	});

	test("an event with a sequence beyond checkpoint+1, delivered directly, makes the consumer read what it missed", async () => {
		const { gus, hal, gusGoal, halGoal } = await twoClientsWithGoals();
		await renameWithoutPublishing(gus.id, "Gus Missed");
		await renameWithoutPublishing(hal.id, "Hal Missed");
		const halTrail = (await api.get(`/clients/${hal.id}/events`)).body as { sequence: number; version: number }[];
		const latest = halTrail[halTrail.length - 1];
		expect(latest).toMatchObject({ sequence: 5, version: 2, clientName: "Hal Missed" });

		// sequence 5 arrives while the checkpoint is 3: 4 was missed
		await system.broker.emit("client.updated", latest);
		await waitFor(
			async () => {
				expect((await api.get(`/goals/${halGoal.id}`)).body.clientName).toBe("Hal Missed");
				expect((await api.get(`/goals/${gusGoal.id}`)).body.clientName).toBe("Gus Missed");
				expect(await checkpointOf(system.dataDir, "goals", "clients")).toBe(5);
				return true;
			},
			{ timeoutMs: 2000, what: "sequence 4 to be caught up after 5 arrived" },
		);
		expect((await api.get(`/goals/${gusGoal.id}`)).body.version).toBe(1);
		expect((await api.get(`/goals/${halGoal.id}`)).body.version).toBe(2);
	});
});
