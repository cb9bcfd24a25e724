/**
 * `Idempotency-Key` on writes (the contract): a repeat of the same method and path with the
 * same key is answered with the first answer and writes nothing; the same key with another body
 * is a 422; a malformed key is a 422. Real HTTP, on real SQLite files and on real PostgreSQL
 * databases (where the key is stored in the event's own INSERT).
 */
import { request } from "../helpers/http";
import { createDatabase, describeWithInfra, dropDatabase, INFRA_URLS, uniqueName } from "../helpers/infra";
import { type TestSystem, useSystem } from "../helpers/system";

const withKey = (key: string) => ({ headers: { "idempotency-key": key } });

function idempotencyCases(sut: { readonly system: TestSystem }): void {
	const url = (path: string) => `${sut.system.url}${path}`;

	async function newClient(tag: string): Promise<number> {
		const res = await request("POST", url("/clients"), { name: tag, email: `${tag}@idem.test` });
		expect(res.status).toBe(201);
		return res.body.id as number;
	}

	async function eventsOf(path: string): Promise<unknown[]> {
		const res = await request("GET", url(`${path}/events`));
		expect(res.status).toBe(200);
		return res.body as unknown[];
	}

	test("POST /goals twice with one key: the same 201 body, one goal, one event", async () => {
		const clientId = await newClient("ann");
		const body = { clientId, goalName: "House", targetAmount: 100 };
		const first = await request("POST", url("/goals"), body, withKey("goal-1"));
		const again = await request("POST", url("/goals"), body, withKey("goal-1"));
		expect(first.status).toBe(201);
		expect(again.status).toBe(201);
		expect(again.body).toEqual(first.body);
		expect(again.headers.get("location")).toBe(first.headers.get("location"));
		const list = await request("GET", url(`/goals?clientId=${clientId}`));
		expect(list.body.total).toBe(1);
		expect(await eventsOf(`/goals/${first.body.id}`)).toHaveLength(1);
	});

	test("the same key with another body is a 422 naming the header, and writes nothing", async () => {
		const clientId = await newClient("bob");
		const first = await request("POST", url("/goals"), { clientId, goalName: "Car", targetAmount: 5 }, withKey("goal-2"));
		expect(first.status).toBe(201);
		const other = await request("POST", url("/goals"), { clientId, goalName: "Car", targetAmount: 6 }, withKey("goal-2"));
		expect(other.status).toBe(422);
		expect(other.body.data).toEqual([expect.objectContaining({ field: "Idempotency-Key", type: "idempotencyKeyReused" })]);
		expect((await request("GET", url(`/goals?clientId=${clientId}`))).body.total).toBe(1);
	});

	test("PUT and DELETE with a key: a repeat answers as the first did and changes nothing more", async () => {
		const clientId = await newClient("cat");
		const put = await request("PUT", url(`/clients/${clientId}`), { name: "Cat Two" }, withKey("put-1"));
		const putAgain = await request("PUT", url(`/clients/${clientId}`), { name: "Cat Two" }, withKey("put-1"));
		expect(put.status).toBe(200);
		expect(putAgain.status).toBe(200);
		expect(putAgain.body).toEqual(put.body);
		expect(put.body.version).toBe(2);
		expect((await request("GET", url(`/clients/${clientId}`))).body.version).toBe(2);

		const del = await request("DELETE", url(`/clients/${clientId}`), undefined, withKey("del-1"));
		const delAgain = await request("DELETE", url(`/clients/${clientId}`), undefined, withKey("del-1"));
		expect([del.status, delAgain.status]).toEqual([204, 204]);
		// without the key, a second DELETE is the contract's 404
		expect((await request("DELETE", url(`/clients/${clientId}`))).status).toBe(404);
		expect((await eventsOf(`/clients/${clientId}`)).map((event) => (event as { eventType: string }).eventType)).toEqual(["CREATED", "UPDATED", "DELETED"]);
	});

	test("one key on two paths is two requests; without a key every request writes", async () => {
		const a = await newClient("dan");
		const b = await newClient("eve");
		expect((await request("PUT", url(`/clients/${a}`), { name: "Dan Two" }, withKey("same"))).body.version).toBe(2);
		expect((await request("PUT", url(`/clients/${b}`), { name: "Eve Two" }, withKey("same"))).body.version).toBe(2);
		expect((await request("PUT", url(`/clients/${a}`), { name: "Dan Two" })).body.version).toBe(3);
	});

	test.each([
		["an empty key", ""],
		["a key of 101 characters", "k".repeat(101)],
	])("%s is a 422 and writes nothing", async (_what, key) => {
		const before = (await request("GET", url("/clients"))).body.total;
		const res = await request("POST", url("/clients"), { name: "Fay", email: `fay-${key.length}@idem.test` }, withKey(key));
		expect(res.status).toBe(422);
		expect(res.body.data).toEqual([expect.objectContaining({ field: "Idempotency-Key" })]);
		expect((await request("GET", url("/clients"))).body.total).toBe(before);
	});
}

describe("on SQLite", () => {
	idempotencyCases(useSystem());
});

describeWithInfra(["postgres"], "on PostgreSQL", () => {
	const names = { clients: uniqueName("idem_clients"), goals: uniqueName("idem_goals") };
	beforeAll(() => Promise.all([createDatabase(names.clients), createDatabase(names.goals)]));
	const sut = useSystem({ env: { CLIENTS_DB_URI: `${INFRA_URLS.postgres}/${names.clients}`, GOALS_DB_URI: `${INFRA_URLS.postgres}/${names.goals}` } });
	// after the system's own afterAll, which stops it (jest-circus runs afterAll hooks in the order declared)
	afterAll(() => Promise.all([dropDatabase(names.clients), dropDatabase(names.goals)]));
	idempotencyCases(sut);
});
