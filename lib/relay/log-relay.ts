/**
 * The relay from a producer's event log to the AMQP stream (CONTRACT.md, "Events for programs
 * outside Moleculer"): reads the log after its checkpoint, publishes a page in log order on a
 * confirm channel, waits for the broker's confirms, then moves the checkpoint over the confirmed
 * run. A relay that crashes, or a broker that restarts, loses nothing: what was not confirmed is
 * published again (at least once; consumers deduplicate by `message_id`).
 *
 * It runs beside the write path, never on it: a commit only pokes it (`poke`: it runs
 * `gatherMs` later, carrying every event committed meanwhile in one page), and it also looks
 * every `pollMs` (a safety net for pokes lost with a replica, and how a new relay finds work). Only one replica per producer relays (lib/relay/relay-lock.ts). A broker that cannot be
 * reached is tried again with backoff, logged once per outage.
 */
import type { Source } from "../constants";
import type { DomainEvent } from "../domain/events";
import type { EventLog } from "../event-log/event-log";
import type { QueueType } from "../infra/amqp-queues";
import type { Database } from "../storage/database";
import { RelayCheckpoint } from "./relay-checkpoint";
import { RelayLock } from "./relay-lock";
import { confirmedThrough, decideLeadership, eventName, reconnectDelay, streamMessage, streamNames, toPublish } from "./relay-rules";
import { StreamPublisher } from "./stream-publisher";

/** How long a stopping relay waits for the confirms of the page in flight. */
const STOP_GRACE_MS = 2000;

export interface RelayReport {
	/** `n` events of `event` confirmed by the broker */
	published(event: string, n: number): void;
	info(message: string): void;
	warn(message: string): void;
}

/** Where the stream is: read from the environment in moleculer.config.ts. */
export interface StreamTarget {
	/** the broker to publish to (amqp://…), or several nodes of one RabbitMQ cluster separated by `;` */
	url: string;
	/** put before every exchange and queue name ("" = the contract's names) */
	prefix: string;
	/** AMQP_QUEUE_TYPE: the type of the stream's queues and their DLQs */
	queueType: QueueType;
}

export interface RelayOptions<E extends DomainEvent> extends StreamTarget {
	source: Source;
	db: Database;
	log: EventLog<E>;
	/** events per page (one read, one batch of confirms, one checkpoint write) */
	pageSize?: number;
	/** how often the relay looks for work without a poke, and asks for the lock when it has none */
	pollMs?: number;
	/**
	 * How long a poke waits before the relay runs, so that the commits of that moment travel as
	 * one page: one read, one batch of confirms, one checkpoint write for all of them, instead of
	 * one each (at 200 writes/s, 2 ms gathers ~1 per run; 20 ms gathers ~4).
	 */
	gatherMs?: number;
}

/** What a replica says about the relay of its producer (its checkpoint and head are the database's, shared by all replicas). */
export interface RelaySelfReport {
	checkpoint: number;
	head: number;
	/** this replica is the one relaying */
	relaying: boolean;
	/** this replica's relay is connected to the broker (false when it does not relay) */
	connected: boolean;
	/** host:port of the RabbitMQ node it publishes to (never credentials), or null when not connected */
	broker: string | null;
}

export class LogRelay<E extends DomainEvent> {
	readonly checkpoints: RelayCheckpoint;
	private readonly lock: RelayLock;
	private readonly publisher: StreamPublisher;
	private readonly pageSize: number;
	private readonly pollMs: number;
	private relays = false;
	/** the checkpoint as this relay knows it, while it relays (read from the database when it starts relaying) */
	private position: number | null = null;
	/** failed attempts to reach the broker in a row, and when to try again */
	private failures = 0;
	private nextAttemptAt = 0;
	/** an outage already logged (a lost connection or a first failed attempt): logged again only once it is over */
	private outage = false;
	/** the last error of a run, logged once until another one or a success */
	private lastError = "";
	private running: Promise<void> | null = null;
	private again = false;
	private stopped = true;
	private timer: NodeJS.Timeout | undefined;
	private readonly gatherMs: number;
	/** a run asked for by a poke, waiting for the commits of the next gatherMs */
	private gathering: NodeJS.Timeout | undefined;
	/** where it logs and counts: the service's logger and metrics, given at start */
	private report: RelayReport = { published: () => undefined, info: () => undefined, warn: () => undefined };

	constructor(private readonly options: RelayOptions<E>) {
		const { db, source } = options;
		this.checkpoints = new RelayCheckpoint(db, source);
		this.pageSize = options.pageSize ?? 500;
		this.pollMs = options.pollMs ?? 1000;
		this.gatherMs = options.gatherMs ?? 20;
		this.lock = new RelayLock(db, source, (why) => {
			// stop at once: another replica may hold the lock from now on
			this.relays = false;
			this.position = null;
			void this.publisher.close();
			this.report.warn(`Stopped relaying the ${source} event log: ${why}. Trying to take the relay lock again every ${this.pollMs} ms.`);
		});
		this.publisher = new StreamPublisher(
			options.url,
			streamNames(source, options.prefix, options.queueType),
			(why) => {
				this.outage = true;
				this.failures = 0;
				this.nextAttemptAt = 0;
				this.report.warn(`Relay of ${source}: ${why}. Events stay in the log and are published once RabbitMQ answers again (retrying with backoff).`);
			},
			(message) => this.report.warn(`Relay of ${source}: ${message}`),
		);
	}

	start(report: RelayReport): void {
		this.report = report;
		this.stopped = false;
		this.timer = setInterval(() => this.run(), this.pollMs);
		this.timer.unref();
		this.run();
	}

	/** Something was committed: relay it soon (within gatherMs, with whatever else commits meanwhile), off the caller's path. */
	poke(): void {
		if (this.stopped || this.gathering) return;
		if (this.running) {
			this.again = true;
			return;
		}
		this.gathering = setTimeout(() => this.run(), this.gatherMs);
		this.gathering.unref();
	}

	/** Relay now (or once the run in flight is done). */
	private run(): void {
		clearTimeout(this.gathering);
		this.gathering = undefined;
		if (this.stopped) return;
		if (this.running) {
			this.again = true;
			return;
		}
		this.running = this.runAll().finally(() => {
			this.running = null;
		});
	}

	/**
	 * Stop relaying: the page in flight gets a moment for its confirms (a node's whole stop has
	 * 10 s), then the connection closes; what was not confirmed is published again by the next relay.
	 */
	async stop(): Promise<void> {
		this.stopped = true;
		clearInterval(this.timer);
		clearTimeout(this.gathering);
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([this.running, new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))]);
		clearTimeout(timer);
		await this.publisher.close();
		await this.running;
		await this.lock.release();
		this.relays = false;
	}

	async selfReport(): Promise<RelaySelfReport> {
		const [checkpoint, head] = await Promise.all([this.checkpoints.read(), this.options.log.lastSequence()]);
		const connected = this.relays && this.publisher.connected;
		return { checkpoint, head, relaying: this.relays, connected, broker: connected ? this.publisher.broker : null };
	}

	private async runAll(): Promise<void> {
		do {
			this.again = false;
			try {
				await this.runOnce();
				this.lastError = "";
			} catch (err) {
				const message = (err as Error).message;
				if (message !== this.lastError) this.report.warn(`Relay of ${this.options.source} failed (${message}); trying again in ${this.pollMs} ms.`);
				this.lastError = message;
				return;
			}
		} while (this.again && !this.stopped);
	}

	private async runOnce(): Promise<void> {
		const { source, db, log } = this.options;
		const report = this.report;
		const answer = this.lock.needed ? await this.lock.tryTake() : null;
		const leadership = decideLeadership(db.dialect, this.relays, answer);
		if (leadership.change === "gained") {
			this.position = await this.checkpoints.read();
			report.info(
				`Relaying the ${source} event log to RabbitMQ from sequence ${this.position + 1}${this.lock.needed ? " (this replica holds the relay lock)" : ""}.`,
			);
		} else if (leadership.change === "lost") {
			this.position = null;
			await this.publisher.close();
		}
		this.relays = leadership.relays;
		if (!this.relays || this.stopped) return;
		if (this.position === null) this.position = await this.checkpoints.read();
		if (!(await this.reachBroker())) return;

		for (;;) {
			if (this.stopped || !this.relays || (this.lock.needed && !this.lock.holds)) return;
			const checkpoint: number = this.position ?? 0;
			const page = await log.pageAfter(checkpoint, this.pageSize);
			const events = toPublish(checkpoint, page.events);
			if (events.length === 0) return;
			const outcomes = await this.publisher.publish(events.map((event) => streamMessage(event, page.requestIds?.[event.eventId])));
			const next = confirmedThrough(checkpoint, outcomes);
			if (next > checkpoint) {
				await this.checkpoints.moveTo(next);
				if (this.position === checkpoint) this.position = next;
				const counts = new Map<string, number>();
				for (const event of events) if (event.sequence <= next) counts.set(eventName(event), (counts.get(eventName(event)) ?? 0) + 1);
				for (const [name, n] of counts) report.published(name, n);
			}
			// a hole in the confirms: the rest is sent again at the next run (said once per position, by runAll)
			if (next < events[events.length - 1].sequence) {
				const unconfirmed = outcomes.filter((outcome) => !outcome.confirmed).length;
				throw new Error(`RabbitMQ did not confirm ${unconfirmed} of ${events.length} event(s) sent after sequence ${next}; they are sent again`);
			}
			if (page.events.length < this.pageSize) return;
		}
	}

	/** Whether the publisher is connected now (connecting, with backoff, when it is not). */
	private async reachBroker(): Promise<boolean> {
		if (this.publisher.connected) return true;
		if (Date.now() < this.nextAttemptAt) return false;
		const { source } = this.options;
		const report = this.report;
		try {
			await this.publisher.connect();
		} catch (err) {
			this.failures++;
			this.nextAttemptAt = Date.now() + reconnectDelay(this.failures);
			if (!this.outage) {
				this.outage = true;
				report.warn(
					`Relay of ${source} cannot reach RabbitMQ (${(err as Error).message}): events stay in the log and are published once it answers (retrying with backoff).`,
				);
			}
			return false;
		}
		if (this.outage) report.info(`Relay of ${source} reached RabbitMQ again${this.failures > 0 ? ` after ${this.failures} failed attempt(s)` : ""}.`);
		this.outage = false;
		this.failures = 0;
		return true;
	}
}
