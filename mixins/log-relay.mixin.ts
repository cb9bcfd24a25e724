/**
 * The relay to the AMQP stream (lib/relay/log-relay.ts), run with the producing service's
 * lifecycle: started once the database is open, stopped before it closes. Adds the internal
 * `relayState` action (a gateway's readiness asks it) and keeps the relay's lag in the metrics.
 * The write path only pokes the relay after a commit (EventLogMixin's `onCommitted`).
 */
import type { ServiceSchema, ServiceSettingSchema } from "moleculer";
import { METRICS, type Source } from "../lib/constants";
import type { DomainEvent } from "../lib/domain/events";
import { lagOf } from "../lib/consumer/consumer-state";
import { count, gauge, registerMetrics } from "../lib/infra/metrics";
import type { LogRelay, RelaySelfReport } from "../lib/relay/log-relay";

/** How often the relay's lag is sampled into the metrics (gauge). */
const SAMPLE_EVERY_MS = 2000;

interface RelayMixinState {
	relaySampler?: NodeJS.Timeout;
}

export function LogRelayMixin<E extends DomainEvent>(source: Source, relay: LogRelay<E>): Partial<ServiceSchema> {
	const schema: Partial<ServiceSchema<ServiceSettingSchema, Record<string, never>, RelayMixinState>> = {
		actions: {
			/** Internal: the relay's checkpoint and the log's head (shared by the replicas), and whether this replica relays. */
			relayState: {
				visibility: "public",
				params: { $$strict: true },
				handler(): Promise<RelaySelfReport> {
					return relay.selfReport();
				},
			},
		},
		created() {
			registerMetrics(this.broker);
		},
		started() {
			const broker = this.broker;
			const logger = this.logger;
			relay.start({
				published: (event, n) => count(broker, METRICS.relayPublished, { event }, n),
				info: (message) => logger.info(message),
				warn: (message) => logger.warn(message),
			});
			if (!this.broker.isMetricsEnabled()) return;
			const sample = () =>
				relay
					.selfReport()
					.then((state) => gauge(this.broker, METRICS.relayLag, lagOf(state.head, state.checkpoint) ?? 0, { producer: source }))
					.catch((err: Error) => this.logger.debug(`Sampling the relay's lag failed: ${err.message}`));
			this.relaySampler = setInterval(sample, SAMPLE_EVERY_MS);
			this.relaySampler.unref();
			void sample();
		},
		async stopped() {
			clearInterval(this.relaySampler);
			await relay.stop();
		},
	};
	return schema as Partial<ServiceSchema>;
}
