/**
 * At most once per request, in a cluster (real processes, RabbitMQ, PostgreSQL, Redis): a goals
 * replica killed right after a commit and before it acks the request leaves the request message
 * to RabbitMQ, which redelivers it to the other replica. That one finds the request id stored
 * with the first write and answers with its result: no goal is stored twice. And a client's
 * Idempotency-Key holds across replicas.
 */
import { Cluster } from "../helpers/cluster";
import { client, request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { replFaults } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(180_000);

/** prefetch of each node: the most requests a killed replica can leave unanswered */
const PREFETCH = 4;
const GOALS = 240;
const CONCURRENCY = 8;

describeWithInfra(["rabbitmq", "redis", "postgres"], "at most once per request", () => {
	const cluster = new Cluster({ AMQP_PREFETCH: String(PREFETCH), LOG_LEVEL: "warn" });
	let url = "";
	let clientIds: number[] = [];

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		await cluster.start("goals-1", "goals", { FAULT_INJECTION: "1" }, { repl: true });
		await cluster.start("goals-2", "goals");
		url = await cluster.startApi("api-1");
		const api = client(url);
		clientIds = [];
		for (let i = 0; i < 4; i++) {
			const res = await api.post("/clients", { name: `Owner ${i}`, email: `owner${i}-${cluster.namespace}@example.com` });
			expect(res.status).toBe(201);
			clientIds.push(res.body.id);
		}
	});

	afterAll(() => cluster.tearDown());

	test("a goals replica killed after its commit, before its ack: the redelivered request is answered, not done again", async () => {
		const goalsOne = cluster.nodes.get("goals-1");
		if (!goalsOne) throw new Error("goals-1 is not running");
		const statuses = new Map<number, number>();
		const answered: Array<{ name: string; id: number }> = [];
		let next = 0;
		let armed = false;
		const refusals: string[] = [];
		const startedAt = Date.now();
		const writer = async () => {
			for (let i = next++; i < GOALS; i = next++) {
				const name = `goal-${i}`;
				const res = await request("POST", `${url}/goals`, { clientId: clientIds[i % clientIds.length], goalName: name, targetAmount: 10 });
				statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
				if (res.status !== 201) refusals.push(`${Date.now() - startedAt} ms ${res.status} ${res.text}`);
				if (res.status === 201) answered.push({ name, id: res.body.id });
				if (!armed && answered.length >= GOALS / 4) {
					armed = true;
					// its next commit is its last: killed before it answers and acks
					await replFaults(goalsOne, "goals", "crash-after-commit:1");
				}
			}
		};
		await Promise.all(Array.from({ length: CONCURRENCY }, writer));
		await waitFor(() => goalsOne.child.exitCode !== null || goalsOne.child.signalCode !== null, { what: "goals-1 to have been killed" });
		cluster.nodes.delete("goals-1");

		const rows = await cluster.query<{ goalName: string; copies: string }>(
			"goals",
			`SELECT "goalName", COUNT(*) AS copies FROM goals WHERE "goalName" LIKE 'goal-%' GROUP BY "goalName"`,
		);
		const twice = rows.filter((row) => Number(row.copies) > 1).map((row) => row.goalName);
		const keys = await cluster.query<{ n: string }>("goals", `SELECT COUNT(*) AS n FROM request_keys WHERE "key" LIKE 'request:%'`);
		console.log(
			`${GOALS} goal creations, goals-1 killed after a commit: answers ${JSON.stringify(Object.fromEntries(statuses))}; ${rows.length} goals stored, ${twice.length} twice; ${keys[0].n} request keys`,
		);
		expect(twice).toEqual([]);
		// every 201 is stored, under the id it answered
		const stored = new Map(rows.map((row) => [row.goalName, Number(row.copies)]));
		for (const { name } of answered) expect(stored.get(name)).toBe(1);
		// the killed replica's requests were redelivered and answered (the gateway calls by name, so
		// they were in the shared queue): at most its prefetch in doubt (504), never 503/500
		const refused = [...statuses.entries()].filter(([status]) => status !== 201);
		expect({ refusals, onlyTimeouts: refused.every(([status]) => status === 504) }).toEqual({ refusals, onlyTimeouts: true });
		expect(refusals.length).toBeLessThanOrEqual(PREFETCH);
	});

	test("one Idempotency-Key, sent twice through the cluster: the same 201 body and one row; another body: 422", async () => {
		const body = { clientId: clientIds[0], goalName: "Keyed", targetAmount: 25 };
		const headers = { headers: { "idempotency-key": `key-${cluster.namespace}` } };
		const first = await request("POST", `${url}/goals`, body, headers);
		const again = await request("POST", `${url}/goals`, body, headers);
		expect(first.status).toBe(201);
		expect(again.status).toBe(201);
		expect(again.body).toEqual(first.body);
		const other = await request("POST", `${url}/goals`, { ...body, targetAmount: 26 }, headers);
		expect(other.status).toBe(422);
		const rows = await cluster.query<{ n: string }>("goals", `SELECT COUNT(*) AS n FROM goals WHERE "goalName" = 'Keyed'`);
		expect(Number(rows[0].n)).toBe(1);
	});
});
