/**
 * A service's own database through moleculer-db and its Sequelize adapter: the adapter owns the
 * connection lifecycle (connect with retry on start, close on stop). moleculer-db's generic CRUD
 * actions are removed: every write here must go through a transaction that also appends to the
 * event log, and every read has a strict parameter schema.
 */
import DbService from "moleculer-db";
import SequelizeAdapter from "moleculer-db-adapter-sequelize";
import type { Context, Service, ServiceSchema } from "moleculer";
import type { Model, ModelStatic } from "sequelize";
import type { Database, DatabaseProbe } from "../lib/storage/database";
import { DatabaseUnavailableError, InvalidDataError, isDatabaseUnavailable, isInvalidData } from "../lib/errors";

/** `checkDatabase()`: `SELECT 1` with a deadline, for /api/ready. */
export type DatabaseMethods = DatabaseProbe;

export const DATABASE_READY_TIMEOUT_MS = 2000;

const GENERIC_ACTIONS = ["find", "count", "list", "create", "insert", "get", "update", "remove"] as const;

export function DatabaseMixin<M extends Model>(db: Database, mainModel: ModelStatic<M>): Partial<ServiceSchema> {
	const schema = {
		mixins: [DbService],
		model: mainModel,
		settings: { idField: "id" },
		actions: Object.fromEntries(GENERIC_ACTIONS.map((name) => [name, false])),
		/**
		 * The adapter is made here, not put in the schema: Moleculer deep-clones schemas when it
		 * merges mixins, and a cloned adapter would hold a cloned Sequelize, so the stores' own
		 * instance would never be connected by it nor closed on stop.
		 */
		created(this: Service & { adapter?: SequelizeAdapter }) {
			this.adapter = new SequelizeAdapter(db.sequelize);
			this.adapter.init(this.broker, this);
		},
		hooks: {
			error: {
				/**
				 * A database outage is a 503 the gateway can name, not an anonymous 500; a value the
				 * database refuses (PostgreSQL class 22) is the caller's 422.
				 */
				"*"(this: Service, ctx: Context, err: Error): never {
					if (isDatabaseUnavailable(err)) throw new DatabaseUnavailableError(err);
					if (isInvalidData(err)) {
						// validation should have refused it: logged to be looked at, with the driver's words
						this.logger.warn(`${ctx.action?.name ?? "an action"}: the database refused a value, answered 422: ${err.message}`);
						throw new InvalidDataError();
					}
					throw err;
				},
			},
		},
		/** Called by moleculer-db once connected: apply the pending migrations, open the writer. */
		async afterConnected(this: Service) {
			const { applied, unknown } = await db.open();
			const migrated = applied.length > 0 ? `, migrations applied: ${applied.join(", ")}` : ", schema up to date";
			this.logger.info(`Database ready: ${db.dialect} ${db.location}${migrated}`);
			if (unknown.length > 0) {
				this.logger.warn(`The database has migrations newer than this code (${unknown.join(", ")}): they only add, so this code runs on them.`);
			}
		},
		/** Before moleculer-db closes Sequelize (its own `stopped` runs after this one): let queued writes commit. */
		async stopped() {
			await db.close();
		},
		methods: {
			async checkDatabase() {
				try {
					await db.ping(DATABASE_READY_TIMEOUT_MS);
					return { status: "UP", dialect: db.dialect };
				} catch (err) {
					return { status: "DOWN", dialect: db.dialect, message: (err as Error).message };
				}
			},
		} satisfies DatabaseMethods,
	};
	return schema as Partial<ServiceSchema>;
}
