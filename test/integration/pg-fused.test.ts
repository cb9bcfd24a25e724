/**
 * A PostgreSQL transaction's BEGIN travels with its first statement and its COMMIT with the
 * statement that says it is the last (lib/storage/pg-fused-query.ts): fewer round trips, the same
 * transaction. Against a real PostgreSQL database: what another connection sees and when, what
 * a failure at each place leaves, and how many messages went to the server.
 */
import { Client } from "pg";
import { Database } from "../../lib/storage/database";
import type { Sql } from "../../lib/storage/sql";
import { createDatabase, describeWithInfra, dropDatabase, INFRA_URLS, uniqueName } from "../helpers/infra";

describeWithInfra(["postgres"], "BEGIN and COMMIT sent with statements (PostgreSQL)", () => {
	const name = uniqueName("fused");
	let db: Database;
	/** another session: what it sees is what is committed */
	let observer: Client;

	const committed = async (): Promise<number[]> =>
		(await observer.query<{ n: number }>(`SELECT "n" FROM things ORDER BY "n"`)).rows.map((row) => Number(row.n));

	beforeAll(async () => {
		const uri = await createDatabase(name);
		db = new Database(uri);
		await db.open();
		await db.statement(`CREATE TABLE things ("n" INTEGER PRIMARY KEY)`, []);
		observer = new Client({ connectionString: uri });
		await observer.connect();
	});
	afterAll(async () => {
		await observer?.end();
		await db?.sequelize.close();
		await dropDatabase(name);
	});
	beforeEach(() => db.statement("DELETE FROM things", []));

	test("given a transaction, when its first statement ran, then another session sees nothing until the COMMIT", async () => {
		let seenInside: number[] = [];
		const rows = await db.transaction(async (sql) => {
			const inserted = await sql.all<{ n: number }>(`INSERT INTO things ("n") VALUES (?), (?) RETURNING "n"`, [1, 2]);
			seenInside = await committed();
			await sql.run(`INSERT INTO things ("n") VALUES (?)`, [3]);
			return inserted;
		});
		expect(rows.map((row) => Number(row.n))).toEqual([1, 2]);
		expect(seenInside).toEqual([]);
		expect(await committed()).toEqual([1, 2, 3]);
	});

	test("given a transaction, when its last statement carries the COMMIT, then its rows come back and it is committed", async () => {
		let seenBeforeLast: number[] = [];
		const rows = await db.transaction(async (sql) => {
			await sql.run(`INSERT INTO things ("n") VALUES (?)`, [1]);
			seenBeforeLast = await committed();
			return sql.allAndCommit<{ n: number }>(`INSERT INTO things ("n") VALUES (?) RETURNING "n"`, [2]);
		});
		expect(seenBeforeLast).toEqual([]);
		expect(rows.map((row) => Number(row.n))).toEqual([2]);
		expect(await committed()).toEqual([1, 2]);
	});

	test("given a one-statement transaction, when it carries BEGIN and COMMIT both, then it is committed", async () => {
		await db.transaction((sql) => sql.allAndCommit(`INSERT INTO things ("n") VALUES (?) RETURNING "n"`, [7]));
		expect(await committed()).toEqual([7]);
	});

	test("given a last statement that fails, when the transaction ends, then nothing of it is kept and the pool goes on", async () => {
		await db.transaction((sql) => sql.run(`INSERT INTO things ("n") VALUES (?)`, [5]));
		const failure = db.transaction(async (sql) => {
			await sql.run(`INSERT INTO things ("n") VALUES (?)`, [6]);
			return sql.allAndCommit(`INSERT INTO things ("n") VALUES (?) RETURNING "n"`, [5]);
		});
		await expect(failure).rejects.toMatchObject({ code: "23505" });
		expect(await committed()).toEqual([5]);
		// every connection of the pool is usable again: more transactions at once than one connection
		await Promise.all([10, 11, 12, 13].map((n) => db.transaction((sql) => sql.allAndCommit(`INSERT INTO things ("n") VALUES (?) RETURNING "n"`, [n]))));
		expect(await committed()).toEqual([5, 10, 11, 12, 13]);
	});

	test("given a first statement that fails, when the transaction ends, then nothing is kept and the next one works", async () => {
		await db.transaction((sql) => sql.run(`INSERT INTO things ("n") VALUES (?)`, [1]));
		await expect(db.transaction((sql) => sql.run(`INSERT INTO things ("n") VALUES (?), (?)`, [2, 1]))).rejects.toMatchObject({ code: "23505" });
		await db.transaction((sql) => sql.run(`INSERT INTO things ("n") VALUES (?)`, [3]));
		expect(await committed()).toEqual([1, 3]);
	});

	test("given work that throws after its statements, when the transaction ends, then it is rolled back", async () => {
		const failure = db.transaction(async (sql) => {
			await sql.run(`INSERT INTO things ("n") VALUES (?)`, [1]);
			throw new Error("decided against it");
		});
		await expect(failure).rejects.toThrow("decided against it");
		expect(await committed()).toEqual([]);
	});

	test("given a savepoint, when a statement inside it says it is the last, then it does not commit the transaction", async () => {
		let seenAfterSavepoint: number[] = [];
		await db.transaction(async (sql) => {
			await sql.run(`INSERT INTO things ("n") VALUES (?)`, [1]);
			await sql.savepoint(() => sql.allAndCommit(`INSERT INTO things ("n") VALUES (?) RETURNING "n"`, [2]));
			seenAfterSavepoint = await committed();
		});
		expect(seenAfterSavepoint).toEqual([]);
		expect(await committed()).toEqual([1, 2]);
	});

	test("given a statement after the one that committed, when it runs, then it is refused", async () => {
		const late = db.transaction(async (sql: Sql) => {
			await sql.allAndCommit(`INSERT INTO things ("n") VALUES (?) RETURNING "n"`, [1]);
			await sql.run(`INSERT INTO things ("n") VALUES (?)`, [2]);
		});
		await expect(late).rejects.toThrow("after its transaction's COMMIT");
		expect(await committed()).toEqual([1]);
	});

	test("given a transaction of two statements, when it runs, then it costs two round trips (BEGIN and COMMIT ride along)", async () => {
		const before = roundTrips;
		await db.transaction(async (sql) => {
			await sql.run(`INSERT INTO things ("n") VALUES (?)`, [1]);
			await sql.allAndCommit(`INSERT INTO things ("n") VALUES (?) RETURNING "n"`, [2]);
		});
		expect(roundTrips - before).toBe(2);
		expect(await committed()).toEqual([1, 2]);
	});

	test("given a statement run in a transaction, when its connection is asked, then PostgreSQL keeps it prepared", async () => {
		const prepared = await db.transaction(async (sql) => {
			await sql.run(`INSERT INTO things ("n") VALUES (?)`, [1]);
			return sql.all<{ statement: string }>(`SELECT "statement" FROM pg_prepared_statements WHERE "statement" LIKE ?`, ["%INTO things%"]);
		});
		expect(prepared.map((row) => row.statement)).toContain(`INSERT INTO things ("n") VALUES ($1)`);
	});

	test("given a first statement that cannot be prepared yet, when it can, then the same connection runs it", async () => {
		// one connection: the failed statement and the later one meet on it
		const single = new Database(`${INFRA_URLS.postgres}/${name}`, { poolMax: 1 });
		await single.open();
		try {
			const read = () => single.transaction((sql) => sql.all<{ m: number }>(`SELECT "m" FROM later_things WHERE "m" > ?`, [0]));
			await expect(read()).rejects.toMatchObject({ code: "42P01" });
			await single.statement(`CREATE TABLE later_things ("m" INTEGER)`, []);
			await single.statement(`INSERT INTO later_things ("m") VALUES (4)`, []);
			expect(await read()).toEqual([{ m: 4 }]);
		} finally {
			await single.sequelize.close();
		}
	});

	/** queries sent by the pool's connections (pg sends one and waits for its answer: a round trip each) */
	let roundTrips = 0;
	beforeAll(() => {
		const query = Client.prototype.query;
		jest.spyOn(Client.prototype, "query").mockImplementation(function (this: Client, ...args: Parameters<Client["query"]>) {
			if (this !== observer) roundTrips++;
			return (query as (...a: unknown[]) => unknown).apply(this, args) as ReturnType<Client["query"]>;
		});
	});
	afterAll(() => jest.restoreAllMocks());
});
