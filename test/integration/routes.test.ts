/**
 * Every route of the contract with its success status and shape, through real HTTP against the
 * real gateway on an ephemeral port, with real SQLite files.
 */
import { useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const { api } = useSystem();

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("clients", () => {
	test("POST /clients creates a client: 201 with exactly the contract's fields", async () => {
		const res = await api.post("/clients", { name: "  Ann  ", email: "ann@example.com" });
		expect(res.status).toBe(201);
		expect(Object.keys(res.body).sort()).toEqual(["createdAt", "email", "goals", "id", "name", "updatedAt", "version"]);
		expect(res.body).toMatchObject({ name: "Ann", email: "ann@example.com", version: 1, goals: [] });
		expect(res.body.id).toBeGreaterThan(0);
		expect(res.body.createdAt).toMatch(ISO);
		expect(res.headers.get("location")).toBe(`/api/clients/${res.body.id}`);
	});

	test("GET /clients/:id, PUT bumps the version, DELETE is 204 then 404", async () => {
		const created = (await api.post("/clients", { name: "Bob", email: "bob@example.com" })).body;
		const got = await api.get(`/clients/${created.id}`);
		expect(got.status).toBe(200);
		expect(got.body).toEqual(created);

		const updated = await api.put(`/clients/${created.id}`, { name: "Robert" });
		expect(updated.status).toBe(200);
		expect(updated.body).toMatchObject({ id: created.id, name: "Robert", email: "bob@example.com", version: 2 });

		const deleted = await api.del(`/clients/${created.id}`);
		expect(deleted.status).toBe(204);
		expect(deleted.text).toBe("");
		expect((await api.get(`/clients/${created.id}`)).status).toBe(404);
		expect((await api.del(`/clients/${created.id}`)).status).toBe(404);
	});

	test("GET /clients pages by id ascending", async () => {
		for (let i = 0; i < 3; i++) await api.post("/clients", { name: `Page ${i}`, email: `page${i}@example.com` });
		const all = (await api.get("/clients?pageSize=100")).body;
		const ids = all.rows.map((row: { id: number }) => row.id);
		expect(ids).toEqual([...ids].sort((a, b) => a - b));
		const page = await api.get("/clients?page=2&pageSize=2");
		expect(page.status).toBe(200);
		expect(page.body).toMatchObject({ total: all.total, page: 2, pageSize: 2, totalPages: Math.ceil(all.total / 2) });
		expect(page.body.rows.map((row: { id: number }) => row.id)).toEqual(ids.slice(2, 4));
		const defaults = (await api.get("/clients")).body;
		expect(defaults).toMatchObject({ page: 1, pageSize: 10 });
	});

	test("a deleted client's email may be used again; the email is unique case-insensitively", async () => {
		const first = (await api.post("/clients", { name: "Cy", email: "cy@example.com" })).body;
		expect((await api.post("/clients", { name: "Cy2", email: "CY@example.com" })).status).toBe(409);
		expect((await api.del(`/clients/${first.id}`)).status).toBe(204);
		expect((await api.post("/clients", { name: "Cy3", email: "Cy@Example.com" })).status).toBe(201);
	});
});

describe("goals", () => {
	test("POST /goals, GET, PUT, DELETE, list by clientId, and the client's goal copy", async () => {
		const owner = (await api.post("/clients", { name: "Dee", email: "dee@example.com" })).body;
		const created = await api.post("/goals", { clientId: owner.id, goalName: "House", targetAmount: 250000.5 });
		expect(created.status).toBe(201);
		expect(Object.keys(created.body).sort()).toEqual(["clientId", "clientName", "createdAt", "goalName", "id", "targetAmount", "updatedAt", "version"]);
		expect(created.body).toMatchObject({ clientId: owner.id, clientName: "Dee", goalName: "House", targetAmount: 250000.5, version: 1 });

		const goal = created.body;
		expect((await api.get(`/goals/${goal.id}`)).body).toEqual(goal);
		const updated = await api.put(`/goals/${goal.id}`, { targetAmount: 0.1 });
		expect(updated.status).toBe(200);
		expect(updated.body).toMatchObject({ targetAmount: 0.1, version: 2, goalName: "House" });

		const second = (await api.post("/goals", { clientId: owner.id, goalName: "Car", targetAmount: 0.2 })).body;
		const list = await api.get(`/goals?clientId=${owner.id}`);
		expect(list.status).toBe(200);
		expect(list.body.rows.map((row: { id: number }) => row.id)).toEqual([goal.id, second.id]);
		expect(list.body.total).toBe(2);

		const ofClient = await api.get(`/clients/${owner.id}/goals`);
		expect(ofClient.status).toBe(200);
		expect(ofClient.body.map((row: { id: number }) => row.id)).toEqual([goal.id, second.id]);

		// the client's own copy of its goals, kept from goal events: eventually consistent
		const withGoals = await waitFor(
			async () => {
				const body = (await api.get(`/clients/${owner.id}`)).body;
				return body.goals.length === 2 && body;
			},
			{ what: "the client's copy of its two goals" },
		);
		expect(withGoals.goals).toEqual([
			{ id: goal.id, goalName: "House", targetAmount: 0.1 },
			{ id: second.id, goalName: "Car", targetAmount: 0.2 },
		]);
		// exact money: 0.1 + 0.2 stays 0.3 in cents
		const cents = withGoals.goals.reduce((sum: number, g: { targetAmount: number }) => sum + Math.round(g.targetAmount * 100), 0);
		expect(cents).toBe(30);

		expect((await api.del(`/goals/${goal.id}`)).status).toBe(204);
		expect((await api.get(`/goals/${goal.id}`)).status).toBe(404);
		expect((await api.del(`/goals/${goal.id}`)).status).toBe(404);
		await waitFor(async () => (await api.get(`/clients/${owner.id}`)).body.goals.length === 1, { what: "the deletion in the client's copy" });
		expect((await api.get(`/clients/${owner.id}`)).body.goals.map((g: { id: number }) => g.id)).toEqual([second.id]);
	});

	test("POST /goals for an absent or deleted client is 422", async () => {
		const absent = await api.post("/goals", { clientId: 999999, goalName: "X", targetAmount: 1 });
		expect(absent.status).toBe(422);
		expect(absent.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ field: "clientId" })]));
		const gone = (await api.post("/clients", { name: "Eve", email: "eve@example.com" })).body;
		await api.del(`/clients/${gone.id}`);
		expect((await api.post("/goals", { clientId: gone.id, goalName: "X", targetAmount: 1 })).status).toBe(422);
	});

	test("PUT /goals/:id cannot change clientId (422)", async () => {
		const owner = (await api.post("/clients", { name: "Fay", email: "fay@example.com" })).body;
		const goal = (await api.post("/goals", { clientId: owner.id, goalName: "Trip", targetAmount: 10 })).body;
		const res = await api.put(`/goals/${goal.id}`, { clientId: owner.id + 1, goalName: "Other" });
		expect(res.status).toBe(422);
		expect(res.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ field: "clientId" })]));
		expect((await api.get(`/goals/${goal.id}`)).body).toEqual(goal);
	});
});

describe("audit", () => {
	test("GET /clients/:id/events and /goals/:id/events list the events by version, kept after deletion", async () => {
		const c = (await api.post("/clients", { name: "Gus", email: "gus@example.com" })).body;
		await api.put(`/clients/${c.id}`, { email: "gus2@example.com" });
		const g = (await api.post("/goals", { clientId: c.id, goalName: "Boat", targetAmount: 5 })).body;
		await api.del(`/goals/${g.id}`);
		await api.del(`/clients/${c.id}`);

		const clientEvents = await api.get(`/clients/${c.id}/events`);
		expect(clientEvents.status).toBe(200);
		expect(clientEvents.body.map((e: { eventType: string; version: number }) => [e.eventType, e.version])).toEqual([
			["CREATED", 1],
			["UPDATED", 2],
			["DELETED", 3],
		]);
		const last = clientEvents.body[2];
		expect(Object.keys(last).sort()).toEqual(["clientEmail", "clientId", "clientName", "eventId", "eventType", "sequence", "source", "timestamp", "version"]);
		expect(last).toMatchObject({ source: "clients", clientId: c.id, clientName: "Gus", clientEmail: "gus2@example.com" });

		const goalEvents = await api.get(`/goals/${g.id}/events`);
		expect(goalEvents.status).toBe(200);
		expect(goalEvents.body.map((e: { eventType: string }) => e.eventType)).toEqual(["CREATED", "DELETED"]);
		expect(goalEvents.body[1]).toMatchObject({ source: "goals", goalId: g.id, clientId: c.id, goalName: "Boat", targetAmount: 5, version: 2 });
		expect((await api.get("/clients/987654/events")).status).toBe(404);
		expect((await api.get("/goals/987654/events")).status).toBe(404);
	});
});

describe("operations", () => {
	test("GET /health is UP; GET /ready reports database, transporter, cacher, queues", async () => {
		expect((await api.get("/health")).body).toEqual({ status: "UP" });
		const ready = await api.get("/ready");
		expect(ready.status).toBe(200);
		expect(ready.body.status).toBe("UP");
		for (const component of ["database", "transporter", "cacher", "queues"]) {
			expect(ready.body.components[component].status).toBe("UP");
		}
	});

	test("only the contract's routes are reachable: no $node, no internal actions, unknown routes 404", async () => {
		for (const path of ["/~node/health", "/$node/list", "/clients/lookup", "/clients/eventsAfter?after=0", "/nope", "/goals/ofClient"]) {
			const res = await api.get(path);
			expect([404, 422]).toContain(res.status);
			expect(res.text).not.toMatch(/"nodeID"|"services"/);
		}
		const unknown = await api.get("/nope");
		expect(unknown.status).toBe(404);
		expect(unknown.body).toMatchObject({ name: "NotFoundError", code: 404, type: "NOT_FOUND" });
		// a known path with a method it does not have: 405 (test/integration/methods.test.ts has the rest)
		expect((await api.raw("PATCH", "/clients/1", "{}")).status).toBe(405);
	});
});
