/**
 * Every migration, in order. To change the schema, add the next file (NNN-what-it-does.ts,
 * exporting one Migration with that number) and list it here; never edit one that has shipped.
 */
import type { Source } from "../../constants";
import { baseline } from "./001-baseline";
import { requestIds } from "./002-request-ids";
import { operatingConsumers } from "./003-operating-consumers";
import type { Migration, Schema } from "./migration";

export const MIGRATIONS: readonly Migration[] = [baseline, requestIds, operatingConsumers];

/** The schema of `owner`'s database. */
export function serviceSchema(owner: Source): Schema {
	return { owner, migrations: MIGRATIONS };
}
