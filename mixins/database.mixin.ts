/**
 * A service's own database through moleculer-db and its Sequelize adapter: the adapter owns the
 * connection lifecycle (connect with retry on start, close on stop). moleculer-db's generic CRUD
 * actions are removed: every write here must go through a transaction that also appends to the
 * event log, and every read has a strict parameter schema.
 */
import DbService from "moleculer-db";
import SequelizeAdapter from "moleculer-db-adapter-sequelize";
import type { Service, ServiceSchema } from "moleculer";
import type { Model, ModelStatic } from "sequelize";
import type { Database, DatabaseProbe } from "../lib/storage/database";
import { DatabaseUnavailableError, isDatabaseUnavailable } from "../lib/errors";

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
				/** A database outage is a 503 the gateway can name, not an anonymous 500. */
				"*"(_ctx: unknown, err: Error): never {
					throw isDatabaseUnavailable(err) ? new DatabaseUnavailableError(err) : err;
				},
			},
		},
		/** Called by moleculer-db once connected: create what is missing of the schema, open the writer. */
		async afterConnected(this: Service) {
			await db.open();
			this.logger.info(`Database ready: ${db.dialect} ${db.location}`);
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
