/**
 * Tests only: the `faults` action that changes a service's fault rules at runtime. Mixed in only
 * when FAULT_INJECTION=1 (moleculer.config.ts), and said loudly at start.
 *
 * Private: not in the registry, so no other node can call it (no request queue is even
 * subscribed for it; a `protected` action would still be served to a request packet that names
 * it). It is reached through the service's own `actions` object, in this process only: by the
 * REPL's `faults` command and by tests (lib/infra/fault-commands.ts, `setFaults`).
 */
import type { Context, ServiceSchema } from "moleculer";
import { type FaultInjector, type FaultRules, formatFaultRules } from "../lib/infra/faults";

export function FaultInjectionMixin(faults: FaultInjector): Partial<ServiceSchema> {
	return {
		actions: {
			faults: {
				visibility: "private",
				params: {
					apply: {
						type: "object",
						nullable: true,
						optional: true,
						props: {
							entities: [
								{ type: "equal", value: "all" },
								{ type: "array", items: { type: "number", integer: true, positive: true } },
							],
							times: [
								{ type: "equal", value: "always" },
								{ type: "number", integer: true, min: 0 },
							],
						},
					},
					crashAfterCommit: { type: "number", integer: true, min: 0, optional: true },
					$$strict: true,
				},
				handler(ctx: Context<Partial<FaultRules>>): FaultRules {
					const current = faults.current();
					const rules = faults.set({
						apply: ctx.params.apply === undefined ? current.apply : ctx.params.apply,
						crashAfterCommit: ctx.params.crashAfterCommit ?? current.crashAfterCommit,
					});
					this.logger.warn(`FAULT INJECTION: rules now ${formatFaultRules(rules)}`);
					return rules;
				},
			},
		},

		started() {
			this.logger.warn(
				`FAULT INJECTION IS ON in '${this.name}' (FAULT_INJECTION=1): this node can be made to fail on purpose; ` +
					`rules ${formatFaultRules(faults.current())}. Never run it like this in production.`,
			);
		},
	};
}
