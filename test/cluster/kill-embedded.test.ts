/**
 * The whole system as one real process (`bin/start.ts`, all services, SQLite files), killed
 * with SIGKILL while writes are in flight, then started again on the same files.
 *
 * Nothing answered 2xx may be lost: every answered creation and rename is in the `clients`
 * table (at least at the answered version) with its event in `event_log`. Whatever was in
 * flight may or may not have been committed, but the files stay consistent: each client row
 * has exactly its events (versions 1..row.version), no event lacks its row, sequences have no
 * gap, and after the restart the goal service's copy of the clients catches up to the table.
 */
import { client, type Reply } from "../helpers/http";
import { CONFIG_VARIABLES, freePort, type NodeProcess, startNode, waitHealthy } from "../helpers/node-process";
import { querySqlite } from "../helpers/sqlite";
import { removeDir, tempDataDir } from "../helpers/system";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

const WORKERS = 8;
/** answers to collect before the kill */
const ANSWERED_BEFORE_KILL = 150;
const START_DEADLINE_MS = 30_000;
const CONVERGE_DEADLINE_MS = 30_000;

interface ClientBody {
	id: number;
	name: string;
	email: string;
	version: number;
}

interface ClientRow {
	id: number;
	name: string;
	email: string;
	emailKey: string | null;
	version: number;
	deletedAt: unknown;
}

interface LogRow {
	sequence: number;
	eventId: string | null;
	eventType: string;
	entityId: number;
	version: number;
	payload: string;
}

interface CopyRow {
	clientId: number;
	name: string;
	email: string;
	version: number;
	deleted: unknown;
}

/** One request of the load and what became of it. */
interface Attempt {
	worker: number;
	kind: "create" | "rename";
	/** the client's email: what ties a create and its renames together */
	email: string;
	/** the client id, for a rename */
	id?: number;
	sent: { name: string; email?: string };
	/** the answer, if one came back */
	reply?: Reply<any>;
	/** the connection error, if no answer came back */
	error?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const nodes: NodeProcess[] = [];
let dataDir = "";

function isDeleted(value: unknown): boolean {
	return value === true || value === 1 || value === "1" || value === "true";
}

async function startSystemProcess(name: string, env: Record<string, string>, base: string): Promise<NodeProcess> {
	const node = startNode(name, env);
	nodes.push(node);
	await waitHealthy(node, `${base}/health`, START_DEADLINE_MS);
	// the gateway may listen a moment before the clients service is registered (503 meanwhile)
	const api = client(base);
	await waitFor(
		async () => {
			if (node.child.exitCode !== null || node.child.signalCode !== null) throw new Error(`${name} exited:\n${node.output()}`);
			return (await api.get("/clients").catch(() => null))?.status === 200;
		},
		{ timeoutMs: START_DEADLINE_MS, intervalMs: 100, what: `${name} to serve GET /api/clients\n${node.output()}` },
	);
	return node;
}

beforeAll(() => {
	for (const variable of CONFIG_VARIABLES) delete process.env[variable];
	dataDir = tempDataDir();
});

afterAll(async () => {
	for (const node of nodes) await node.kill9();
	if (dataDir) removeDir(dataDir);
});

test("SIGKILL during concurrent writes loses nothing answered; the files stay consistent; the goal copy catches up after restart", async () => {
	const port = await freePort();
	const base = `http://127.0.0.1:${port}/api`;
	const env = {
		PORT: String(port),
		CLIENTS_DB_URI: `sqlite:${dataDir}/clients.sqlite`,
		GOALS_DB_URI: `sqlite:${dataDir}/goals.sqlite`,
		LOG_LEVEL: "warn",
	};
	const api = client(base);
	const first = await startSystemProcess("system", env, base);

	// --- the load, and the kill in the middle of it ------------------------------------------
	const attempts: Attempt[] = [];
	let answered = 0;
	let inFlight = 0;
	let inFlightAtKill = -1;
	let killed: Promise<number | NodeJS.Signals> | undefined;

	async function attempt(a: Attempt, call: () => Promise<Reply<any>>): Promise<Reply<any> | undefined> {
		attempts.push(a);
		inFlight++;
		try {
			a.reply = await call();
			answered++;
			return a.reply;
		} catch (err) {
			a.error = err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? "")}` : String(err);
			return undefined;
		} finally {
			inFlight--;
			if (!killed && answered >= ANSWERED_BEFORE_KILL) {
				inFlightAtKill = inFlight;
				killed = first.kill9();
			}
		}
	}

	async function worker(w: number): Promise<void> {
		for (let n = 0; !killed; n++) {
			const email = `kill.${w}.${n}.${process.pid}@example.com`;
			const created = await attempt({ worker: w, kind: "create", email, sent: { name: `Worker ${w} client ${n}`, email } }, () =>
				api.post("/clients", { name: `Worker ${w} client ${n}`, email }),
			);
			if (created?.status !== 201) continue;
			const id = (created.body as ClientBody).id;
			for (let r = 0; r < 2 && !killed; r++) {
				const name = `Worker ${w} client ${n} rename ${r}`;
				await attempt({ worker: w, kind: "rename", email, id, sent: { name } }, () => api.put(`/clients/${id}`, { name }));
			}
		}
	}

	await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
	expect(killed).toBeDefined();
	expect(await killed).toBe("SIGKILL");
	// requests were in flight when the process died
	expect(inFlightAtKill).toBeGreaterThan(0);

	const unanswered = attempts.filter((a) => a.reply === undefined);
	const answeredAttempts = attempts.filter((a) => a.reply !== undefined);
	// while the process ran every write succeeded: the load did not hide refusals
	expect(answeredAttempts.filter((a) => ![200, 201].includes(a.reply!.status)).map((a) => [a.kind, a.reply!.status, a.reply!.text])).toEqual([]);
	expect(unanswered.length).toBeGreaterThan(0);
	const answeredCreates = answeredAttempts.filter((a) => a.kind === "create");
	const answeredRenames = answeredAttempts.filter((a) => a.kind === "rename");
	expect(answeredCreates.length).toBeGreaterThan(0);
	expect(answeredRenames.length).toBeGreaterThan(0);

	// --- restart on the same files ------------------------------------------------------------
	await startSystemProcess("system (restarted)", env, base);

	const rows = await querySqlite<ClientRow>(dataDir, "clients", "SELECT id, name, email, emailKey, version, deletedAt FROM clients ORDER BY id");
	const log = await querySqlite<LogRow>(dataDir, "clients", "SELECT sequence, eventId, eventType, entityId, version, payload FROM event_log ORDER BY sequence");
	const rowById = new Map(rows.map((row) => [Number(row.id), row]));
	const eventAt = new Map(log.map((e) => [`${Number(e.entityId)}/${Number(e.version)}`, e]));

	// --- nothing answered 2xx is lost ---------------------------------------------------------
	for (const a of answeredCreates) {
		const body = a.reply!.body as ClientBody;
		const row = rowById.get(body.id);
		expect({ create: body, row: row && { name: row.name, email: row.email } }).toEqual({
			create: body,
			row: { name: expect.any(String), email: body.email },
		});
		expect(Number(row!.version)).toBeGreaterThanOrEqual(body.version);
		const event = eventAt.get(`${body.id}/1`);
		expect({ create: body, eventType: event?.eventType, payload: event && JSON.parse(event.payload) }).toEqual({
			create: body,
			eventType: "CREATED",
			payload: { clientId: body.id, clientName: body.name, clientEmail: body.email },
		});
		expect(event!.eventId).toMatch(UUID);
	}
	for (const a of answeredRenames) {
		const body = a.reply!.body as ClientBody;
		expect(body).toMatchObject({ id: a.id, name: a.sent.name });
		const row = rowById.get(body.id);
		expect({ rename: body, stored: row !== undefined }).toEqual({ rename: body, stored: true });
		expect(Number(row!.version)).toBeGreaterThanOrEqual(body.version);
		const event = eventAt.get(`${body.id}/${body.version}`);
		expect({ rename: body, eventType: event?.eventType, payload: event && JSON.parse(event.payload) }).toEqual({
			rename: body,
			eventType: "UPDATED",
			payload: { clientId: body.id, clientName: body.name, clientEmail: body.email },
		});
		expect(event!.eventId).toMatch(UUID);
	}

	// --- each row is at most one unanswered write past its last answer ------------------------
	const sentEmails = new Set(attempts.filter((a) => a.kind === "create").map((a) => a.email));
	for (const row of rows) {
		const id = Number(row.id);
		expect({ id, email: row.email, sent: sentEmails.has(row.email) }).toEqual({ id, email: row.email, sent: true });
		const mine = attempts.filter((a) => a.email === row.email);
		const lastAnswered = Math.max(0, ...mine.filter((a) => a.reply).map((a) => (a.reply!.body as ClientBody).version));
		const lost = mine.filter((a) => !a.reply).length;
		expect({ id, version: Number(row.version), lastAnswered, lost, within: Number(row.version) <= lastAnswered + lost }).toEqual({
			id,
			version: Number(row.version),
			lastAnswered,
			lost,
			within: true,
		});
		// its name is one this test sent for it
		expect(mine.map((a) => a.sent.name)).toContain(row.name);
		expect(row.deletedAt).toBeNull();
		expect(row.emailKey).toBe(row.email.toLowerCase());
	}

	// --- each row has exactly its events, each event its row, sequences have no gap -----------
	expect(log.map((e) => Number(e.sequence))).toEqual(log.map((_, i) => i + 1));
	expect(new Set(log.map((e) => e.eventId)).size).toBe(log.length);
	for (const e of log) expect(e.eventId).toMatch(UUID);
	const byEntity = new Map<number, LogRow[]>();
	for (const e of log) byEntity.set(Number(e.entityId), [...(byEntity.get(Number(e.entityId)) ?? []), e]);
	expect([...byEntity.keys()].filter((id) => !rowById.has(id))).toEqual([]); // no event without its row
	for (const row of rows) {
		const id = Number(row.id);
		const events = (byEntity.get(id) ?? []).sort((a, b) => Number(a.version) - Number(b.version));
		expect({ id, versions: events.map((e) => Number(e.version)), types: events.map((e) => e.eventType) }).toEqual({
			id,
			versions: Array.from({ length: Number(row.version) }, (_, i) => i + 1),
			types: ["CREATED", ...Array(Number(row.version) - 1).fill("UPDATED")],
		});
		expect(JSON.parse(events[events.length - 1].payload)).toEqual({ clientId: id, clientName: row.name, clientEmail: row.email });
	}
	expect(log).toHaveLength(rows.reduce((sum, row) => sum + Number(row.version), 0));

	// --- the restarted node serves what the files hold ----------------------------------------
	for (const row of rows) {
		const got = await api.get(`/clients/${row.id}`);
		expect({ id: row.id, status: got.status, name: got.body?.name, version: got.body?.version }).toEqual({
			id: row.id,
			status: 200,
			name: row.name,
			version: Number(row.version),
		});
	}

	// --- the goal service's copy catches up to the clients table ------------------------------
	const expected = rows.map((row) => ({
		clientId: Number(row.id),
		name: row.name,
		email: row.email,
		version: Number(row.version),
		deleted: false,
	}));
	await waitFor(
		async () => {
			const copies = await querySqlite<CopyRow>(dataDir, "goals", "SELECT clientId, name, email, version, deleted FROM client_projection ORDER BY clientId");
			expect(
				copies.map((c) => ({ clientId: Number(c.clientId), name: c.name, email: c.email, version: Number(c.version), deleted: isDeleted(c.deleted) })),
			).toEqual(expected);
			return true;
		},
		{ timeoutMs: CONVERGE_DEADLINE_MS, intervalMs: 200, what: "the goal service's client_projection to catch up to the clients table" },
	);
});
