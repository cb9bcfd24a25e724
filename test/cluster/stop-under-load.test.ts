/**
 * Stop under load (issue 10, must-show 4): SIGTERM to a goals replica while client events are
 * flowing to it. It exits 0 within 10 s without a GracefulStopTimeoutError, whatever it acked
 * is applied, and the rest is applied by the other replica: the goal service's copy of the
 * clients ends equal to the client service's truth. (A second signal exits at once:
 * unit/graceful-stop.) Real processes, RabbitMQ, Redis, PostgreSQL.
 */
import { Cluster, clientsAndCopies } from "../helpers/cluster";
import { client } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(180_000);

const RENAMES = 200;

describeWithInfra(["rabbitmq", "redis", "postgres"], "a goals replica stopped under load", () => {
	const cluster = new Cluster();
	let api: ReturnType<typeof client>;
	const ids: number[] = [];

	beforeAll(async () => {
		await cluster.setUp();
		await cluster.start("clients-1", "clients");
		await cluster.start("goals-1", "goals");
		await cluster.start("goals-2", "goals");
		api = client(await cluster.startApi("api-1"));
		for (let i = 0; i < 20; i++) {
			const res = await api.post("/clients", { name: `Load ${i}`, email: `load${i}-${cluster.namespace}@example.com` });
			expect(res.status).toBe(201);
			ids.push(res.body.id);
		}
	});
	afterAll(() => cluster.tearDown());

	test(`SIGTERM while ${RENAMES} renames flow: exit 0 within 10 s, no GracefulStopTimeoutError, the copy converges`, async () => {
		const goalsOne = cluster.nodes.get("goals-1");
		if (!goalsOne) throw new Error("goals-1 is not running");
		let sent = 0;
		let stopped: Promise<{ exit: number | NodeJS.Signals; ms: number }> | undefined;
		const writers = Array.from({ length: 10 }, async () => {
			for (let i = sent++; i < RENAMES; i = sent++) {
				const res = await api.put(`/clients/${ids[i % ids.length]}`, { name: `Renamed ${i}` });
				expect(res.status).toBe(200);
				if (i === RENAMES / 4 && !stopped) {
					const started = Date.now();
					stopped = goalsOne.stop().then((exit) => ({ exit, ms: Date.now() - started }));
				}
			}
		});
		await Promise.all(writers);
		const { exit, ms } = await (stopped as Promise<{ exit: number | NodeJS.Signals; ms: number }>);
		cluster.nodes.delete("goals-1");
		console.log(`goals-1 stopped under load: exit ${exit} after ${ms} ms`);
		expect({ exit, withinTenSeconds: ms < 10_000 }).toEqual({ exit: 0, withinTenSeconds: true });
		expect(goalsOne.output()).not.toContain("GracefulStopTimeoutError");

		await waitFor(
			async () => {
				const { truth, copy } = await clientsAndCopies(cluster);
				expect(copy).toEqual(truth);
				return true;
			},
			{ timeoutMs: 20_000, intervalMs: 200, what: "the goal service's copy to equal the client service's truth" },
		);
	});

});
