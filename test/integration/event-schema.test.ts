/**
 * Consumed events are checked against their schema before they are applied (CONTRACT.md,
 * Events): one that does not match is dead-lettered with the reason (listed by the admin API),
 * never applied, and other events keep flowing; an operator's retry of it fails the check again.
 * One embedded node (no transporter), real SQLite files; events delivered with `broker.emit`,
 * which resolves once the local handlers have finished.
 */
import { randomUUID } from "node:crypto";
import { METRICS } from "../../lib/constants";
import { checkpointOf, lastSequenceOf, querySqlite } from "../helpers/sqlite";
import { request } from "../helpers/http";
import { useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

const TOKEN = "an-admin-token-of-at-least-32-characters";
const sut = useSystem({ env: { ADMIN_TOKEN: TOKEN } });
const { api } = sut;

interface DeadLetterView {
	id: string;
	consumer: string;
	producer: string;
	lastError: string;
	event: Record<string, unknown>;
}

async function deadLetters(): Promise<DeadLetterView[]> {
	const res = await request("GET", `${sut.system.url}/admin/dead-letters?pageSize=100`, undefined, { headers: { authorization: `Bearer ${TOKEN}` } });
	expect(res.status).toBe(200);
	// a page `{ rows, … }` (or, before paging, the list itself)
	return (Array.isArray(res.body) ? res.body : res.body.rows) as DeadLetterView[];
}

/** Everything a client event could touch on the goal side, read from its SQLite file. */
async function goalSide() {
	const dir = sut.system.dataDir;
	return {
		goals: await querySqlite(dir, "goals", "SELECT * FROM goals ORDER BY id"),
		copies: await querySqlite(dir, "goals", "SELECT * FROM client_projection ORDER BY clientId"),
		log: await querySqlite(dir, "goals", "SELECT sequence FROM event_log ORDER BY sequence"),
		checkpoints: await querySqlite(dir, "goals", "SELECT * FROM checkpoints ORDER BY producer"),
	};
}

function counter(name: string): number {
	const metric = sut.system.broker.metrics.getMetric(name);
	return (metric?.get({ producer: "clients" })?.value as number | undefined) ?? 0;
}

let owner: { id: number; name: string; email: string };
let goalId: number;

beforeAll(async () => {
	owner = (await api.post("/clients", { name: "Dana", email: "dana.schema@example.com" })).body;
	goalId = (await api.post("/goals", { clientId: owner.id, goalName: "Boat", targetAmount: 900 })).body.id;
	await waitFor(async () => (await api.get(`/goals/${goalId}`)).body.clientName === "Dana", { what: "the goal's copy of its client" });
	// The goal consumer at rest: the copy above may come from the live event alone, applied while
	// the consumer's first catch-up (a bootstrap from the clients' snapshot, started with the node)
	// was still under way; that bootstrap then writes the checkpoint. The tests below compare the
	// goal side before and after, so they start once it has: checkpoint at the clients log's head.
	const dir = sut.system.dataDir;
	const head = await lastSequenceOf(dir, "clients");
	await waitFor(async () => (await checkpointOf(dir, "goals", "clients")) === head, { what: `the goal consumer's checkpoint at #${head}` });
});

test("malformed client events are dead-lettered with their reason and change nothing; a good one after them is applied", async () => {
	const before = await goalSide();
	const rejectedBefore = counter(METRICS.eventsRejected);
	const next = (await lastSequenceOf(sut.system.dataDir, "clients")) + 1;
	const base = {
		eventId: randomUUID(),
		source: "clients",
		timestamp: new Date().toISOString(),
		sequence: next,
		clientId: owner.id,
		clientName: "Dana",
		clientEmail: owner.email,
	};
	const malformed: Array<[string, unknown, RegExp]> = [
		["client.deleted", { ...base, eventType: "DELETED", version: 2, clientId: "1 OR 1=1" }, /'clientId'/],
		["client.updated", { ...base, eventType: "UPDATED", version: 2, clientName: "" }, /'clientName'/],
		["client.updated", { ...base, eventType: "UPDATED", version: 2 ** 31 - 1, sequence: 2 ** 31 }, /'sequence'/],
		["client.updated", { ...base, eventType: "UPDATED", version: 2, source: "goals" }, /'source'/],
		["client.deleted", { ...base, eventType: "UPDATED", version: 2 }, /'client.deleted' must carry/],
		["client.updated", "not an event", /must be an object/],
	];
	for (const [name, payload] of malformed) await sut.system.broker.emit(name, payload);

	expect(await goalSide()).toEqual(before);
	expect((await api.get(`/goals/${goalId}`)).body).toMatchObject({ clientName: "Dana" });
	expect(counter(METRICS.eventsRejected) - rejectedBefore).toBe(malformed.length);
	const letters = (await deadLetters()).filter((letter) => letter.consumer === "goals");
	expect(letters).toHaveLength(malformed.length);
	malformed.forEach(([, payload, reason], i) => {
		expect(letters[i]).toMatchObject({ producer: "clients", event: payload });
		expect(letters[i].lastError).toMatch(/^InvalidEventError: The event failed its schema check/);
		expect(letters[i].lastError).toMatch(reason);
	});

	// the consumer is not stuck: a real change right after is applied
	expect((await api.put(`/clients/${owner.id}`, { name: "Dana Renamed" })).status).toBe(200);
	await waitFor(async () => (await api.get(`/goals/${goalId}`)).body.clientName === "Dana Renamed", { what: "the rename to reach the goal" });
});

test("an operator's retry of a refused event fails the schema check again: it is never applied", async () => {
	const [letter] = (await deadLetters()).filter((one) => one.consumer === "goals" && (one.event as { clientId?: unknown }).clientId === "1 OR 1=1");
	expect(letter).toBeDefined();
	const before = await goalSide();
	const retried = await request("POST", `${sut.system.url}/admin/dead-letters/${letter.id}/retry`, undefined, {
		headers: { authorization: `Bearer ${TOKEN}` },
	});
	expect(retried.status).toBe(200);
	// attempts 1 s and 2 s apart (lib/consumer/retries.ts), then dead again
	await waitFor(
		async () => {
			const again = (await deadLetters()).find((one) => one.id === letter.id);
			return again !== undefined && /InvalidEventError/.test(again.lastError);
		},
		{ timeoutMs: 15_000, intervalMs: 250, what: "the retried letter to be dead again" },
	);
	expect(await goalSide()).toEqual(before);
	expect((await api.get(`/goals/${goalId}`)).status).toBe(200);
}, 30_000);
