/**
 * Consumers paused and resumed on one process without a transporter (`npm start`), SQLite: the
 * admin API and the REPL pause and resume them; while the goal service's consumer is paused, a
 * client's change is answered as always and its event waits in the client service's log (the
 * consumer's checkpoint does not move past it, its copy keeps the old name); resumed, it catches
 * up. `/api/ready` says which consumer is paused and why. That catch-up waits too is shown with
 * an injected clock (test/integration/consumer-pause.test.ts); over RabbitMQ with two replicas:
 * test/cluster/consumer-pause.test.ts.
 */
import { replCommands } from "../../lib/consumer/repl-commands";
import { adminTokenId } from "../../lib/http/admin-auth";
import { request } from "../helpers/http";
import { checkpointOf, lastSequenceOf } from "../helpers/sqlite";
import { useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const TOKEN = "admin-consumers-token-0123456789abcdef0123";
const sut = useSystem({ env: { ADMIN_TOKEN: TOKEN } });

const admin = (method: string, path: string, body?: unknown) =>
	request(method, `${sut.system.url}/admin${path}`, body, { headers: { authorization: `Bearer ${TOKEN}` } });

async function repl(args: Record<string, unknown>): Promise<string[]> {
	const command = replCommands.find((candidate) => candidate.command.startsWith("consumer "));
	const printed: string[] = [];
	// console is the REPL's output, not the system under test
	const spy = jest.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
		printed.push(parts.map(String).join(" "));
	});
	try {
		await command?.action(sut.system.broker, args as unknown as string[], {});
	} finally {
		spy.mockRestore();
	}
	return printed;
}

test("given nothing paused, then both consumers run, and /api/ready says so", async () => {
	const res = await admin("GET", "/consumers");
	expect(res.status).toBe(200);
	expect(res.body).toEqual([
		{ consumer: "goals", state: "running", reason: null, since: null },
		{ consumer: "clients", state: "running", reason: null, since: null },
	]);
	const ready = await sut.api.get("/ready");
	expect(ready.body.components.consumers.goals).toMatchObject({ state: "running", reason: null });
	expect((await admin("GET", "/consumers?extra=1")).status).toBe(422);
});

test("given the goal service's consumer paused, then a change is answered and its event waits in the log; resumed, it is applied", async () => {
	const created = await sut.api.post("/clients", { name: "Ann", email: "ann.consumers@example.com" });
	const goal = await sut.api.post("/goals", { clientId: created.body.id, goalName: "House", targetAmount: 5 });
	expect(goal.status).toBe(201);
	const dataDir = sut.system.dataDir;
	await waitFor(async () => (await checkpointOf(dataDir, "goals", "clients")) === (await lastSequenceOf(dataDir, "clients")), { what: "caught up" });

	const paused = await admin("POST", "/consumers/goals/pause", { reason: "copy maintenance" });
	expect(paused.status).toBe(200);
	expect(paused.body).toMatchObject({ consumer: "goals", state: "paused", reason: `paused by an operator (${adminTokenId(TOKEN)}): copy maintenance` });
	const ready = await sut.api.get("/ready");
	expect(ready.status).toBe(200);
	expect(ready.body.components.consumers.goals).toMatchObject({ state: "paused", reason: paused.body.reason, since: paused.body.since });

	const checkpoint = await checkpointOf(dataDir, "goals", "clients");
	// without a transporter the rename's handlers have run when it is answered: it was handed back, not applied
	expect((await sut.api.put(`/clients/${created.body.id}`, { name: "Ann Renamed" })).status).toBe(200);
	expect(await lastSequenceOf(dataDir, "clients")).toBe(checkpoint + 1);
	expect(await checkpointOf(dataDir, "goals", "clients")).toBe(checkpoint);
	expect((await sut.api.get(`/goals/${goal.body.id}`)).body.clientName).toBe("Ann");
	const resumed = await admin("POST", "/consumers/goals/resume");
	expect(resumed.body).toMatchObject({ consumer: "goals", state: "running", reason: null });
	await waitFor(async () => (await sut.api.get(`/goals/${goal.body.id}`)).body.clientName === "Ann Renamed", { what: "the rename applied after the resume" });
	expect(await checkpointOf(dataDir, "goals", "clients")).toBe(checkpoint + 1);
});

test("the REPL lists, pauses and resumes a consumer, and says how to", async () => {
	expect(await repl({ verb: "pause", name: "clients", options: { reason: "from the REPL" } })).toEqual([
		expect.stringMatching(/^clients {2}paused since \S+Z: paused by an operator \(repl\): from the REPL$/),
	]);
	expect(await repl({ verb: "list" })).toEqual(["goals  running", expect.stringMatching(/^clients {2}paused since/)]);
	expect(await repl({ verb: "resume", name: "clients" })).toEqual(["clients  running"]);
	expect(await repl({ verb: "pause", name: "billing" })).toEqual(["consumer pause failed: No consumer 'billing': the consumers are goals, clients"]);
	expect(await repl({ verb: "pause" })).toEqual([expect.stringMatching(/^Usage: consumer list/)]);
});
