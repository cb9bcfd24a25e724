/**
 * A live batch moves the checkpoint in one statement when it continues it, and is read and
 * decided otherwise (lib/consumer/checkpoints.ts). Both paths give the same answers, on a real
 * SQLite file and a real PostgreSQL database.
 */
import path from "node:path";
import { type Advance, Checkpoints } from "../../lib/consumer/checkpoints";
import { SOURCES } from "../../lib/constants";
import { Database } from "../../lib/storage/database";
import { serviceSchema } from "../../lib/storage/migrations";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";
import { removeDir, tempDataDir } from "../helpers/system";

/** given a checkpoint (null: no row), when these sequences are applied, then the answer and where it stands */
const cases: Array<{ given: number | null; when: number[]; answer: Advance; at: number | null }> = [
	{ given: 4, when: [5, 6, 7], answer: "advanced", at: 7 },
	{ given: 4, when: [7, 6, 5, 5], answer: "advanced", at: 7 },
	{ given: 6, when: [5, 6, 7, 8], answer: "advanced", at: 8 },
	{ given: 4, when: [6, 7], answer: "gap", at: 4 },
	{ given: 4, when: [5, 7], answer: "gap", at: 5 },
	{ given: 4, when: [3, 4], answer: "seen", at: 4 },
	{ given: 7, when: [5, 6, 7], answer: "seen", at: 7 },
	{ given: null, when: [1, 2], answer: "gap", at: null },
	{ given: 9, when: [9], answer: "seen", at: 9 },
	{ given: 8, when: [9], answer: "advanced", at: 9 },
	{ given: 2, when: [9], answer: "gap", at: 2 },
];

function checkpointCases(open: () => Promise<Database>): void {
	let db: Database;
	let checkpoints: Checkpoints;
	beforeAll(async () => {
		db = await open();
		checkpoints = new Checkpoints(db);
	});
	afterAll(() => db?.close());

	// `last`: the advance is its transaction's last statement (on PostgreSQL the COMMIT goes with the usual case)
	test.each(cases.flatMap((one) => [false, true].map((last) => ({ ...one, last }))))(
		"given $given, when $when are applied (last statement: $last), then $answer and the checkpoint at $at",
		async ({ given, when, answer, at, last }) => {
			await db.transaction((sql) => sql.run(`DELETE FROM checkpoints WHERE "producer" = ?`, [SOURCES.clients]));
			if (given !== null) await db.transaction((sql) => checkpoints.placeAt(sql, SOURCES.clients, given));
			expect(await db.transaction((sql) => checkpoints.advance(sql, SOURCES.clients, when, { last }))).toBe(answer);
			expect(await checkpoints.find(SOURCES.clients)).toBe(at);
		},
	);
}

describe("checkpoints on SQLite", () => {
	const dir = tempDataDir();
	afterAll(() => removeDir(dir));
	checkpointCases(async () => {
		const db = new Database(`sqlite:${path.join(dir, "goals.sqlite")}`, { schema: serviceSchema(SOURCES.goals) });
		await db.open();
		return db;
	});
});

describeWithInfra(["postgres"], "checkpoints on PostgreSQL", () => {
	const name = uniqueName("checkpoints");
	afterAll(() => dropDatabase(name));
	checkpointCases(async () => {
		const db = new Database(await createDatabase(name), { schema: serviceSchema(SOURCES.goals) });
		await db.open();
		return db;
	});
});
