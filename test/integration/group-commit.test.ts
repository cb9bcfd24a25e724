/**
 * Many writes at once, as a group commit would batch them: every answer the API gives is
 * exactly what the SQLite files hold, with exactly one event per change, and nothing for a
 * refused request.
 *
 * 1. 200 concurrent `POST /api/clients`: valid and unique ones, groups of the same email in
 *    different letter cases (one 201 each, the rest 409), and invalid bodies (422).
 * 2. 100 concurrent writes on existing clients: repeated renames of the same clients, renames
 *    racing deletions, writes to absent ids (404).
 *
 * Then the answers are compared with the REST API and with the files: the `clients` rows, the
 * `event_log` (one event per answered change, versions 1..v per client, sequences 1..N without a
 * gap) and the goal service's copy of the clients, which must converge to the same state.
 */
import { querySqlite } from "../helpers/sqlite";
import { useSystem } from "../helpers/system";
import type { Reply } from "../helpers/http";
import { waitFor } from "../helpers/wait";

jest.setTimeout(90_000);

const CONVERGE_DEADLINE_MS = 30_000;

interface ClientBody {
	id: number;
	name: string;
	email: string;
	version: number;
	createdAt: string;
	updatedAt: string;
	goals: unknown[];
}

interface ClientRow {
	id: number;
	name: string;
	email: string;
	emailKey: string | null;
	version: number;
	deletedAt: unknown;
	createdAt: unknown;
	updatedAt: unknown;
}

interface LogRow {
	sequence: number;
	eventId: string;
	eventType: string;
	entityId: number;
	version: number;
	payload: string;
	timestamp: string;
}

interface CopyRow {
	clientId: number;
	name: string;
	email: string;
	version: number;
	deleted: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A date as SQLite holds it, in milliseconds: Sequelize writes `YYYY-MM-DD HH:MM:SS.mmm +00:00`;
 * an ISO string or a number of milliseconds are read as well.
 */
function storedTime(value: unknown): number {
	if (value instanceof Date) return value.getTime();
	if (typeof value === "number") return value;
	const text = String(value);
	const sequelize = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)(?: ?([+-]\d\d:\d\d|Z))?$/.exec(text);
	const time = sequelize ? Date.parse(`${sequelize[1]}T${sequelize[2]}${sequelize[3] ?? "Z"}`) : Date.parse(text);
	if (Number.isNaN(time)) throw new Error(`unreadable stored date '${text}'`);
	return time;
}

function isDeleted(value: unknown): boolean {
	return value === true || value === 1 || value === "1" || value === "true";
}

/** A stored row, in the shape the API answers (without goals). */
function rowAsAnswered(row: ClientRow) {
	return {
		id: Number(row.id),
		name: row.name,
		email: row.email,
		version: Number(row.version),
		createdAt: new Date(storedTime(row.createdAt)).toISOString(),
		updatedAt: new Date(storedTime(row.updatedAt)).toISOString(),
	};
}

function withoutGoals(body: ClientBody) {
	const { goals: _goals, ...rest } = body;
	return rest;
}

async function readClients(dataDir: string): Promise<ClientRow[]> {
	return querySqlite<ClientRow>(dataDir, "clients", "SELECT * FROM clients ORDER BY id");
}

async function readLog(dataDir: string): Promise<LogRow[]> {
	return querySqlite<LogRow>(dataDir, "clients", "SELECT * FROM event_log ORDER BY sequence");
}

function expectGapFreeSequences(log: LogRow[]): void {
	expect(log.map((row) => Number(row.sequence))).toEqual(log.map((_, i) => i + 1));
	expect(new Set(log.map((row) => row.eventId)).size).toBe(log.length);
	for (const row of log) expect(row.eventId).toMatch(UUID);
}

function eventsByEntity(log: LogRow[]): Map<number, LogRow[]> {
	const byEntity = new Map<number, LogRow[]>();
	for (const row of log) {
		const list = byEntity.get(Number(row.entityId)) ?? [];
		list.push(row);
		byEntity.set(Number(row.entityId), list);
	}
	for (const list of byEntity.values()) list.sort((a, b) => Number(a.version) - Number(b.version));
	return byEntity;
}

/** The goal service's copy of the clients converges to exactly the client rows. */
async function expectProjectionConverges(dataDir: string, rows: ClientRow[]): Promise<void> {
	const expected = rows.map((row) => ({
		clientId: Number(row.id),
		name: row.name,
		email: row.email,
		version: Number(row.version),
		deleted: row.deletedAt !== null,
	}));
	await waitFor(
		async () => {
			const copies = await querySqlite<CopyRow>(dataDir, "goals", "SELECT clientId, name, email, version, deleted FROM client_projection ORDER BY clientId");
			const seen = copies.map((copy) => ({
				clientId: Number(copy.clientId),
				name: copy.name,
				email: copy.email,
				version: Number(copy.version),
				deleted: isDeleted(copy.deleted),
			}));
			expect(seen).toEqual(expected);
			return true;
		},
		{ timeoutMs: CONVERGE_DEADLINE_MS, intervalMs: 100, what: "the goal service's client_projection to match the clients table" },
	);
}

describe("200 concurrent client creations", () => {
	const sut = useSystem();
	const { api } = sut;

	type Kind = "unique" | "duplicate" | "invalid";
	interface Sent {
		kind: Kind;
		body: Record<string, unknown>;
		/** duplicates: the lower-cased email shared by the group */
		group?: string;
		/** invalid: the field the 422 must name */
		field?: string;
	}

	const run = `gc${process.pid}`;

	function requests(): Sent[] {
		const sent: Sent[] = [];
		// 150 valid and unique, a few with letters in upper case and names with spaces to trim
		for (let i = 0; i < 150; i++) {
			const email = i % 10 === 0 ? `Unique.${i}.${run}@Example.com` : `unique.${i}.${run}@example.com`;
			const name = i % 15 === 0 ? `  Client ${i}  ` : `Client ${i}`;
			sent.push({ kind: "unique", body: { name, email } });
		}
		// 30 in 12 groups sharing an email in different letter cases: 6 triples and 6 pairs
		for (let g = 0; g < 12; g++) {
			const local = `dup.${g}.${run}`;
			const variants = [`${local}@example.com`, `${local.toUpperCase()}@EXAMPLE.COM`, `Dup.${g}.${run}@Example.Com`];
			const size = g < 6 ? 3 : 2;
			for (let k = 0; k < size; k++) {
				sent.push({ kind: "duplicate", group: `${local}@example.com`, body: { name: `Dup ${g}/${k}`, email: variants[k] } });
			}
		}
		// 20 invalid, 2 of each kind: each would be a new client if it were wrongly accepted
		const invalid: Array<[string, (fresh: string) => Record<string, unknown>]> = [
			["email", () => ({ name: "Bad Email", email: "not-an-email" })],
			["email", (fresh) => ({ name: "Bad Email", email: fresh.replace("@", "@@") })],
			["name", (fresh) => ({ name: "", email: fresh })],
			["name", (fresh) => ({ name: "   ", email: fresh })],
			["extra", (fresh) => ({ name: "Unknown Field", email: fresh, extra: true })],
			["id", (fresh) => ({ name: "Unknown Field", email: fresh, id: 12345 })],
			["email", () => ({ name: "No Email" })],
			["name", (fresh) => ({ email: fresh })],
			["name", (fresh) => ({ name: "x".repeat(101), email: fresh })],
			["name", (fresh) => ({ name: 42, email: fresh })],
		];
		for (let i = 0; i < 20; i++) {
			const [field, make] = invalid[i % invalid.length];
			sent.push({ kind: "invalid", field, body: make(`invalid.${i}.${run}@example.com`) });
		}
		// interleave the kinds so that they arrive mixed
		return sent
			.map((entry, i) => ({ entry, key: (i * 7919) % sent.length }))
			.sort((a, b) => a.key - b.key)
			.map((x) => x.entry);
	}

	test("each 201 is stored as answered with one CREATED event; duplicates and invalid bodies store nothing", async () => {
		const sent = requests();
		expect(sent).toHaveLength(200);
		expect(sent.filter((s) => s.kind === "duplicate")).toHaveLength(30);
		expect(sent.filter((s) => s.kind === "invalid")).toHaveLength(20);

		const replies: Array<Reply<any>> = await Promise.all(sent.map((s) => api.post("/clients", s.body)));
		const outcomes = sent.map((s, i) => ({ ...s, reply: replies[i] }));

		// --- the answers ---------------------------------------------------------------------
		for (const o of outcomes.filter((x) => x.kind === "unique")) {
			expect({ sent: o.body, status: o.reply.status }).toEqual({ sent: o.body, status: 201 });
			expect(o.reply.body).toEqual({
				id: expect.any(Number),
				name: String(o.body.name).trim(),
				email: o.body.email,
				version: 1,
				createdAt: expect.any(String),
				updatedAt: expect.any(String),
				goals: [],
			});
		}
		for (const o of outcomes.filter((x) => x.kind === "invalid")) {
			expect({ sent: o.body, status: o.reply.status }).toEqual({ sent: o.body, status: 422 });
			const fields = (o.reply.body?.data ?? []).map((entry: { field: string }) => entry.field);
			expect({ sent: o.body, fields }).toEqual({ sent: o.body, fields: expect.arrayContaining([o.field]) });
		}
		const groups = new Map<string, typeof outcomes>();
		for (const o of outcomes.filter((x) => x.kind === "duplicate")) {
			groups.set(o.group as string, [...(groups.get(o.group as string) ?? []), o]);
		}
		expect(groups.size).toBe(12);
		for (const [group, members] of groups) {
			const statuses = members.map((m) => m.reply.status).sort();
			expect({ group, statuses }).toEqual({ group, statuses: [201, ...Array(members.length - 1).fill(409)] });
			const winner = members.find((m) => m.reply.status === 201)!;
			expect(winner.reply.body).toMatchObject({ name: winner.body.name, email: winner.body.email, version: 1 });
			for (const loser of members.filter((m) => m.reply.status === 409)) expect(loser.reply.body?.code).toBe(409);
		}

		const created = outcomes.filter((o) => o.reply.status === 201).map((o) => o.reply.body as ClientBody);
		const refused = outcomes.filter((o) => o.reply.status !== 201);
		expect(created).toHaveLength(150 + 12);
		expect(refused).toHaveLength(18 + 20);
		const ids = created.map((c) => c.id);
		expect(new Set(ids).size).toBe(created.length);
		created.sort((a, b) => a.id - b.id);

		// --- the REST API shows exactly what was answered -----------------------------------
		for (const c of created) {
			const got = await api.get(`/clients/${c.id}`);
			expect({ id: c.id, status: got.status, body: got.body }).toEqual({ id: c.id, status: 200, body: c });
			const events = await api.get(`/clients/${c.id}/events`);
			expect(events.status).toBe(200);
			expect(events.body).toEqual([
				expect.objectContaining({
					eventType: "CREATED",
					source: "clients",
					version: 1,
					clientId: c.id,
					clientName: c.name,
					clientEmail: c.email,
				}),
			]);
		}
		const listed: ClientBody[] = [];
		for (let page = 1; ; page++) {
			const res = await api.get(`/clients?page=${page}&pageSize=100`);
			expect(res.status).toBe(200);
			expect(res.body.total).toBe(created.length);
			listed.push(...res.body.rows);
			if (res.body.rows.length < 100) break;
		}
		expect(listed).toEqual(created);

		// --- the files hold exactly the answered clients -------------------------------------
		const dataDir = sut.system.dataDir;
		const rows = await readClients(dataDir);
		expect(rows).toHaveLength(created.length);
		expect(rows.map(rowAsAnswered)).toEqual(created.map(withoutGoals));
		for (const row of rows) {
			expect(row.emailKey).toBe(row.email.toLowerCase());
			expect(row.deletedAt).toBeNull();
		}
		const refusedEmails = refused
			.map((o) => o.body.email)
			.filter((email): email is string => typeof email === "string")
			.filter((email) => !created.some((c) => c.email === email));
		expect(rows.filter((row) => refusedEmails.includes(row.email))).toEqual([]);

		const log = await readLog(dataDir);
		expectGapFreeSequences(log);
		expect(log).toHaveLength(created.length);
		const byEntity = eventsByEntity(log);
		expect([...byEntity.keys()].sort((a, b) => a - b)).toEqual(ids.slice().sort((a, b) => a - b));
		for (const c of created) {
			const events = byEntity.get(c.id) ?? [];
			expect(events.map((e) => ({ eventType: e.eventType, version: Number(e.version), payload: JSON.parse(e.payload) }))).toEqual([
				{ eventType: "CREATED", version: 1, payload: { clientId: c.id, clientName: c.name, clientEmail: c.email } },
			]);
		}
		for (const email of refusedEmails) {
			expect(log.filter((e) => JSON.parse(e.payload).clientEmail === email)).toEqual([]);
		}

		// --- the goal service's copy converges to exactly these clients ----------------------
		await expectProjectionConverges(dataDir, rows);
	});
});

describe("100 concurrent writes on existing clients", () => {
	const sut = useSystem();
	const { api } = sut;
	const run = `mw${process.pid}`;

	type Op =
		| { kind: "rename"; id: number; name: string }
		| { kind: "renameAbsent"; id: number; name: string }
		| { kind: "delete"; id: number }
		| { kind: "deleteAbsent"; id: number };

	test("each client's events are versions 1..v, its row is at version v, sequences have no gap", async () => {
		// 20 clients renamed 4 times each (2 of them deleted meanwhile), 4 more deleted
		const setup: ClientBody[] = [];
		for (let i = 0; i < 24; i++) {
			const res = await api.post("/clients", { name: `Existing ${i}`, email: `existing.${i}.${run}@example.com` });
			expect(res.status).toBe(201);
			setup.push(res.body);
		}
		const renamed = setup.slice(0, 20);
		const racing = new Set([renamed[3].id, renamed[11].id]); // renamed and deleted at once
		const deletedOnly = setup.slice(20, 24);
		const absent = (i: number) => 900_000 + i;

		const ops: Op[] = [];
		for (let round = 0; round < 4; round++) {
			for (const c of renamed) ops.push({ kind: "rename", id: c.id, name: `Renamed ${c.id}.${round}` });
		}
		for (let i = 0; i < 10; i++) ops.push({ kind: "renameAbsent", id: absent(i), name: `Nobody ${i}` });
		for (const id of racing) ops.push({ kind: "delete", id });
		for (const c of deletedOnly) ops.push({ kind: "delete", id: c.id });
		for (let i = 0; i < 4; i++) ops.push({ kind: "deleteAbsent", id: absent(100 + i) });
		expect(ops).toHaveLength(100);
		// mixed arrival order, the same at every run
		const shuffled = ops
			.map((op, i) => ({ op, key: (i * 37) % ops.length }))
			.sort((a, b) => a.key - b.key)
			.map((x) => x.op);

		const replies = await Promise.all(
			shuffled.map((op) =>
				op.kind === "rename" || op.kind === "renameAbsent" ? api.put(`/clients/${op.id}`, { name: op.name }) : api.del(`/clients/${op.id}`),
			),
		);
		const outcomes = shuffled.map((op, i) => ({ op, reply: replies[i] }));

		// --- the answers ---------------------------------------------------------------------
		for (const { op, reply } of outcomes) {
			const expected =
				op.kind === "renameAbsent" || op.kind === "deleteAbsent"
					? [404]
					: op.kind === "delete"
						? [204]
						: racing.has(op.id)
							? [200, 404] // a rename that came after the deletion finds nothing
							: [200];
			expect({ op, status: reply.status, allowed: expected.includes(reply.status) }).toEqual({ op, status: reply.status, allowed: true });
			if (reply.status === 200 && op.kind === "rename") {
				expect(reply.body).toMatchObject({ id: op.id, name: op.name });
			}
		}
		const renamesOf = (id: number) =>
			outcomes.filter((o) => o.op.kind === "rename" && o.op.id === id && o.reply.status === 200).map((o) => o.reply.body as ClientBody);
		for (const c of renamed.filter((r) => !racing.has(r.id))) {
			// 4 renames on a live client: versions 2, 3, 4, 5, each answered once
			expect(
				renamesOf(c.id)
					.map((b) => b.version)
					.sort((a, b) => a - b),
			).toEqual([2, 3, 4, 5]);
		}

		// --- the files -----------------------------------------------------------------------
		const dataDir = sut.system.dataDir;
		const rows = await readClients(dataDir);
		const log = await readLog(dataDir);
		expectGapFreeSequences(log);
		const answeredChanges = outcomes.filter((o) => o.reply.status === 200 || o.reply.status === 204).length;
		// one event per created client and per answered change, nothing for a 404
		expect(log).toHaveLength(setup.length + answeredChanges);
		expect(rows.map((row) => Number(row.id))).toEqual(setup.map((c) => c.id));

		const byEntity = eventsByEntity(log);
		expect([...byEntity.keys()].sort((a, b) => a - b)).toEqual(rows.map((row) => Number(row.id)));
		for (const row of rows) {
			const id = Number(row.id);
			const events = byEntity.get(id) ?? [];
			const deleted = row.deletedAt !== null;
			// versions 1..v, the row at version v
			expect({ id, versions: events.map((e) => Number(e.version)) }).toEqual({
				id,
				versions: Array.from({ length: Number(row.version) }, (_, i) => i + 1),
			});
			const types = events.map((e) => e.eventType);
			expect({ id, types }).toEqual({
				id,
				types: ["CREATED", ...Array(Math.max(0, events.length - (deleted ? 2 : 1))).fill("UPDATED"), ...(deleted ? ["DELETED"] : [])],
			});
			// the last event carries the row's last values
			expect(JSON.parse(events[events.length - 1].payload)).toEqual({ clientId: id, clientName: row.name, clientEmail: row.email });
			expect(row.emailKey).toBe(deleted ? null : row.email.toLowerCase());

			const answered = renamesOf(id);
			const answeredDelete = outcomes.some((o) => o.op.kind === "delete" && o.op.id === id && o.reply.status === 204);
			expect({ id, deleted }).toEqual({ id, deleted: answeredDelete });
			expect(Number(row.version)).toBe(1 + answered.length + (answeredDelete ? 1 : 0));
			// each answered rename is the event of its version, with its name
			for (const body of answered) {
				const event = events.find((e) => Number(e.version) === body.version);
				expect({ id, version: body.version, type: event?.eventType, payload: event && JSON.parse(event.payload) }).toEqual({
					id,
					version: body.version,
					type: "UPDATED",
					payload: { clientId: id, clientName: body.name, clientEmail: body.email },
				});
			}
			if (!deleted) {
				const top = answered.reduce<ClientBody | undefined>((best, b) => (!best || b.version > best.version ? b : best), undefined);
				if (top) expect(rowAsAnswered(row)).toEqual(withoutGoals(top));
				const got = await api.get(`/clients/${id}`);
				expect({ id, status: got.status, version: got.body?.version, name: got.body?.name }).toEqual({
					id,
					status: 200,
					version: Number(row.version),
					name: row.name,
				});
			} else {
				expect((await api.get(`/clients/${id}`)).status).toBe(404);
			}
		}
		// nothing exists for the absent ids
		for (const op of shuffled.filter((o) => o.kind === "renameAbsent" || o.kind === "deleteAbsent")) {
			expect(byEntity.has(op.id)).toBe(false);
		}

		await expectProjectionConverges(dataDir, rows);
	});
});
