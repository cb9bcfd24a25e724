/**
 * The safety net under validation: a value PostgreSQL refuses (SQLSTATE class 22: a NUL in text,
 * a value too long for its column, a number out of range, malformed text for a type) is the
 * caller's 422 in the contract's shape, never a 500, and never carries the driver's words. Real
 * PostgreSQL, a real service with the database mixin, values sent on purpose past any validation
 * (the services' own rules refuse each of them first: see bad-input.test.ts).
 */
import { Errors, ServiceBroker } from "moleculer";
import { DataTypes, QueryTypes } from "sequelize";
import { toPublicError } from "../../lib/http/http-errors";
import { SOURCES } from "../../lib/constants";
import { Database } from "../../lib/storage/database";
import type { Schema } from "../../lib/storage/migrations/migration";
import { DatabaseMixin } from "../../mixins/database.mixin";
import { createDatabase, describeWithInfra, dropDatabase, uniqueName } from "../helpers/infra";

describeWithInfra(["postgres"], "PostgreSQL data errors", () => {
	const name = uniqueName("data_errors");
	let broker: ServiceBroker;
	let db: Database;

	beforeAll(async () => {
		// a schema of its own: one migration making one table
		const schema: Schema = {
			owner: SOURCES.clients,
			migrations: [
				{ id: 1, name: "notes", up: (sql) => sql.run('CREATE TABLE notes ("id" SERIAL PRIMARY KEY, "text" VARCHAR(10) NOT NULL)').then(() => undefined) },
			],
		};
		db = new Database(await createDatabase(name), { schema });
		const notes = db.sequelize.define("Note", { text: { type: DataTypes.STRING(10), allowNull: false } }, { tableName: "notes", timestamps: false });
		broker = new ServiceBroker({ logger: false });
		broker.createService({
			name: "notes",
			mixins: [DatabaseMixin(db, notes)],
			actions: {
				// the write path: plain SQL in a transaction from the pg pool
				write: {
					handler(ctx) {
						return db.transaction((sql) => sql.all(`INSERT INTO notes ("text") VALUES (?) RETURNING "id"`, [ctx.params.text]));
					},
				},
				// the read path: Sequelize's connection
				cast: {
					handler(ctx) {
						return db.sequelize.query(`SELECT CAST(? AS integer) AS n`, { replacements: [ctx.params.text], type: QueryTypes.SELECT });
					},
				},
				// our own mistake, not the caller's: stays a 500
				broken: {
					handler() {
						return db.sequelize.query("SELEC 1");
					},
				},
			},
		});
		await broker.start();
	});

	afterAll(async () => {
		await broker?.stop();
		await dropDatabase(name);
	});

	async function failure(action: string, text?: string): Promise<Error> {
		try {
			await broker.call(`notes.${action}`, { text });
		} catch (err) {
			return err as Error;
		}
		throw new Error(`notes.${action} did not fail`);
	}

	test.each([
		["a NUL in text (22021), on the write path", "write", "a\u0000b"],
		["a value longer than its column (22001), on the write path", "write", "x".repeat(11)],
		["a number out of range (22003), on the read path", "cast", "99999999999"],
		["text that is no number (22P02), on the read path", "cast", "abc"],
	])("%s is a 422 naming no driver detail", async (_what, action, text) => {
		const err = await failure(action, text);
		expect(err).toBeInstanceOf(Errors.ValidationError);
		const answer = toPublicError(err);
		expect(answer).toEqual({
			name: "ValidationError",
			message: "Parameters validation error!",
			code: 422,
			type: "VALIDATION_ERROR",
			// our wording, exactly: nothing of the driver's ("invalid byte sequence …", "value too long for type …")
			data: [{ type: "invalidData", field: "request", message: "A value in the request cannot be stored: it is too long, out of range or malformed." }],
		});
	});

	test("nothing was written by the refused writes", async () => {
		expect(await db.sequelize.query("SELECT COUNT(*)::int AS n FROM notes", { type: QueryTypes.SELECT })).toEqual([{ n: 0 }]);
		// and the pool is fine: a good write goes through
		await broker.call("notes.write", { text: "ok" });
		expect(await db.sequelize.query("SELECT COUNT(*)::int AS n FROM notes", { type: QueryTypes.SELECT })).toEqual([{ n: 1 }]);
	});

	test("an error of another class (a syntax error, 42601) is not taken for the caller's: it stays a 500", async () => {
		const err = await failure("broken");
		expect(err).not.toBeInstanceOf(Errors.ValidationError);
		expect(toPublicError(err).code).toBe(500);
	});
});
