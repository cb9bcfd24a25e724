import { ConfigError } from "../../lib/errors";
import { loadConfig } from "../../moleculer.config";

/** The ConfigError loadConfig throws for `env` (fails the test if it throws nothing or something else). */
export function configErrorOf(env: Record<string, string>): ConfigError {
	try {
		loadConfig(env);
	} catch (err) {
		expect(err).toBeInstanceOf(ConfigError);
		return err as ConfigError;
	}
	throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}
