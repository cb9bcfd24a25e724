/**
 * The two ways to change a node's fault rules at runtime (tests only; lib/infra/faults.ts), both
 * inside the node's own process: `setFaults` for a test that runs the broker, and the REPL's
 * `faults` command. The `faults` action is private (mixins/fault-injection.mixin.ts): neither
 * HTTP nor any other node can reach it.
 */
import type { Service, ServiceBroker } from "moleculer";
import type { ReplCustomCommand } from "moleculer/src/service-broker";
import { type FaultRules, formatFaultRules, parseFaultRules } from "./faults";

type FaultsAction = (params: Partial<FaultRules>) => Promise<FaultRules>;

/** Change the rules of a service running in this broker (only what is given); returns them all. */
export function setFaults(broker: ServiceBroker, service: string, rules: Partial<FaultRules>): Promise<FaultRules> {
	const local = broker.getLocalService(service) as (Service & { actions: { faults?: FaultsAction } }) | undefined;
	const faults = local?.actions.faults;
	if (!faults) {
		return Promise.reject(new Error(`No fault injection in '${service}' on this node (FAULT_INJECTION=1 and the service running here)`));
	}
	return faults(rules);
}

/**
 * `faults <service>` shows a service's rules; `faults <service> <rules>` replaces them, in
 * FAULT_RULES's syntax (`apply:all:always`, `apply:3,4:2;crash-after-commit:1`), and
 * `faults <service> none` clears them. Prints `<service> faults: <rules>`.
 */
export const faultsReplCommand: ReplCustomCommand = {
	command: "faults <service> [rules]",
	description: "Fault injection (FAULT_INJECTION=1 only): `faults goals`, `faults goals apply:all:always`, `faults goals none`",
	async action(broker, args) {
		const { service, rules } = args as unknown as { service: string; rules?: string };
		try {
			const wanted = rules === undefined ? {} : rules === "none" ? { apply: null, crashAfterCommit: 0 } : parseFaultRules(rules, "faults");
			console.log(`${service} faults: ${formatFaultRules(await setFaults(broker, service, wanted))}`);
		} catch (err) {
			console.log(`faults ${service} failed: ${(err as Error).message}`);
		}
	},
};
