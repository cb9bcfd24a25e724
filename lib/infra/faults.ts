/**
 * Fault injection, for tests only. It exists only with FAULT_INJECTION=1 (or true), never with
 * NODE_ENV=production (moleculer.config.ts), and is reachable only inside the node's own
 * process: the REPL's `faults` command and tests in that process (lib/infra/fault-commands.ts),
 * never over HTTP or from another node.
 *
 * Rules (FAULT_RULES at start, or the REPL's `faults <service> <rules>`), separated by ";":
 *   apply:<ids|all>:<times|always>  a consumer's handler fails for those entity ids (client ids
 *                                   in the goal service, goal ids in the client service)
 *   crash-after-commit:<times>      the producer kills its own process (SIGKILL) right after a
 *                                   commit and before publishing, as a crash would
 * No rule (FAULT_RULES unset) enables the switch with none; rules can then be set at runtime.
 */
import { Errors } from "moleculer";
import { ConfigError } from "../errors";

export interface ApplyFault {
	entities: number[] | "all";
	times: number | "always";
}

export interface FaultRules {
	apply: ApplyFault | null;
	crashAfterCommit: number;
}

export class InjectedFaultError extends Errors.MoleculerRetryableError {
	constructor(entityId: number) {
		super(`Injected fault for entity ${entityId}`, 500, "INJECTED_FAULT", { entityId });
		this.name = "InjectedFaultError";
	}
}

export function parseFaultRules(raw: string, variable = "FAULT_RULES"): FaultRules {
	const rules: FaultRules = { apply: null, crashAfterCommit: 0 };
	for (const rule of raw
		.split(";")
		.map((part) => part.trim())
		.filter(Boolean)) {
		const [kind, ...args] = rule.split(":");
		if (kind === "apply" && args.length === 2) {
			const entities = args[0] === "all" ? "all" : args[0].split(",").map(Number);
			const times = args[1] === "always" ? "always" : Number(args[1]);
			if ((entities === "all" || entities.every((id) => Number.isInteger(id) && id > 0)) && (times === "always" || (Number.isInteger(times) && times > 0))) {
				rules.apply = { entities, times };
				continue;
			}
		} else if (kind === "crash-after-commit" && args.length === 1 && Number.isInteger(Number(args[0])) && Number(args[0]) > 0) {
			rules.crashAfterCommit = Number(args[0]);
			continue;
		}
		throw new ConfigError(variable, `'${rule}' is not apply:<ids|all>:<times|always> or crash-after-commit:<times>`);
	}
	return rules;
}

/** The rules in FAULT_RULES's syntax (what parseFaultRules reads back), or `none`. */
export function formatFaultRules(rules: FaultRules): string {
	const parts: string[] = [];
	if (rules.apply) {
		const entities = rules.apply.entities === "all" ? "all" : rules.apply.entities.join(",");
		parts.push(`apply:${entities}:${rules.apply.times}`);
	}
	if (rules.crashAfterCommit > 0) parts.push(`crash-after-commit:${rules.crashAfterCommit}`);
	return parts.join(";") || "none";
}

/** A copy that shares nothing with `rules`: the counters in it are counted down in place. */
function copyRules(rules: FaultRules): FaultRules {
	const apply = rules.apply && {
		entities: rules.apply.entities === "all" ? ("all" as const) : [...rules.apply.entities],
		times: rules.apply.times,
	};
	return { apply, crashAfterCommit: rules.crashAfterCommit };
}

export class FaultInjector {
	private rules: FaultRules;

	/**
	 * The rules are copied: the configuration hands the same FAULT_RULES to each
	 * service, and each must count its own failures and crashes.
	 */
	constructor(rules: FaultRules) {
		this.rules = copyRules(rules);
	}

	set(rules: FaultRules): FaultRules {
		this.rules = copyRules(rules);
		return this.current();
	}

	current(): FaultRules {
		return copyRules(this.rules);
	}

	/** Throw if the handler of an event about `entityId` is to fail now. */
	checkApply(entityId: number): void {
		const rule = this.rules.apply;
		if (!rule) return;
		if (rule.entities !== "all" && !rule.entities.includes(entityId)) return;
		if (rule.times !== "always") {
			if (rule.times <= 0) return;
			rule.times -= 1;
		}
		throw new InjectedFaultError(entityId);
	}

	/** Die now, without any cleanup, if a crash is due: the commit is done, the publish is not. */
	crashAfterCommit(): void {
		if (this.rules.crashAfterCommit <= 0) return;
		this.rules.crashAfterCommit -= 1;
		process.kill(process.pid, "SIGKILL");
	}
}
