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
import type { Database } from "../lib/database";

export interface DatabaseMethods {
	/** `SELECT 1` with a deadline, for /api/ready. */
	checkDatabase(): Promise<{ status: "UP" | "DOWN"; dialect: string; message?: string }>;
}

export const DATABASE_READY_TIMEOUT_MS = 2000;

const GENERIC_ACTIONS = ["find", "count", "list", "create", "insert", "get", "update", "remove"] as const;

export function DatabaseMixin<M extends Model>(db: Database, mainModel: ModelStatic<M>): Partial<ServiceSchema> {
	const schema = {
		mixins: [DbService],
		adapter: new SequelizeAdapter(db.sequelize),
		model: mainModel,
		settings: { idField: "id" },
		actions: Object.fromEntries(GENERIC_ACTIONS.map((name) => [name, false])),
		/** Called by moleculer-db once connected: create the schema, then dialect settings. */
		async afterConnected(this: Service) {
			await db.createSchema();
			this.logger.info(`Database ready: ${db.dialect} ${db.location}`);
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
