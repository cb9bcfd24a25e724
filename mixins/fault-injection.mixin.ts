/**
 * Tests only: the internal `faults` action that changes a node's fault rules at runtime
 * (`call goals.faults --apply.entities all --apply.times always`, or from a test's broker).
 * Mixed in only when FAULT_INJECTION is set; internal visibility keeps it off HTTP.
 */
import type { Context, ServiceSchema } from "moleculer";
import type { FaultInjector, FaultRules } from "../lib/infra/faults";

export function FaultInjectionMixin(faults: FaultInjector): Partial<ServiceSchema> {
	return {
		actions: {
			faults: {
				visibility: "public",
				params: {
					apply: {
						type: "object",
						nullable: true,
						optional: true,
						props: {
							entities: [{ type: "equal", value: "all" }, { type: "array", items: { type: "number", integer: true, positive: true } }],
							times: [{ type: "equal", value: "always" }, { type: "number", integer: true, min: 0 }],
						},
					},
					crashAfterCommit: { type: "number", integer: true, min: 0, optional: true },
					$$strict: true,
				},
				handler(ctx: Context<Partial<FaultRules>>): FaultRules {
					const current = faults.current();
					return faults.set({
						apply: ctx.params.apply === undefined ? current.apply : ctx.params.apply,
						crashAfterCommit: ctx.params.crashAfterCommit ?? current.crashAfterCommit,
					});
				},
			},
		},
	};
}
