/**
 * How far behind a producer's relay to the AMQP stream is, as a gateway's `/api/ready` shows it:
 * its lag is the log's head minus the relay's checkpoint (events committed that RabbitMQ has not
 * confirmed yet). Both figures live in the producer's database, so any replica answers for the
 * relay. While no replica answers, the last answer is shown ("last known"). A producer that runs
 * without a relay (no AMQP transporter, or EVENT_STREAM=off) is "off". Pure: the caller asks.
 *
 * Informative only: a relay that is behind never makes the gateway not ready. REST keeps
 * working while RabbitMQ cannot take the stream, the events wait in the log, and the lag (here
 * and in `cg.relay.lag`) is what an operator watches and alerts on.
 */
import { lagOf } from "../consumer/consumer-state";

/** What a replica of the producer answers (lib/relay/log-relay.ts, RelaySelfReport: the public part). */
export interface RelayFigures {
	checkpoint: number;
	head: number;
}

export type RelayReported = "live" | "last known" | "unknown" | "off";

export interface RelayState {
	producer: string;
	head: number | null;
	checkpoint: number | null;
	lag: number | null;
	reported: RelayReported;
}

/**
 * Given whether the producer runs a relay at all (`offered`: some live replica serves its state
 * action), its answer now (null if none came) and its last answer before (null if there never
 * was one), then the relay's state.
 */
export function relayState(producer: string, offered: boolean, now: RelayFigures | null, lastKnown: RelayFigures | null): RelayState {
	const figures = now ?? lastKnown;
	const reported: RelayReported = now ? "live" : lastKnown ? "last known" : offered ? "unknown" : "off";
	if (!figures) return { producer, head: null, checkpoint: null, lag: null, reported };
	return { producer, head: figures.head, checkpoint: figures.checkpoint, lag: lagOf(figures.head, figures.checkpoint), reported };
}
