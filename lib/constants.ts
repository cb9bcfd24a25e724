/**
 * Every name that crosses a process boundary lives here: services, event names, consumer
 * groups and cache keys. A rename happens in one place or not at all.
 */

export const SERVICE_NAMES = ["api", "clients", "goals"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Producers: the service that owns an entity and writes its event log. */
export const SOURCES = { clients: "clients", goals: "goals" } as const;
export type Source = (typeof SOURCES)[keyof typeof SOURCES];

export const EVENT_TYPES = ["CREATED", "UPDATED", "DELETED"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A dead letter's state: waiting for an operator, discarded by one, or replayed (applied on an operator's retry). */
export const DEAD_LETTER_STATES = ["dead", "discarded", "replayed"] as const;
export type DeadLetterState = (typeof DEAD_LETTER_STATES)[number];

export const CLIENT_EVENTS = {
	CREATED: "client.created",
	UPDATED: "client.updated",
	DELETED: "client.deleted",
} as const satisfies Record<EventType, string>;

export const GOAL_EVENTS = {
	CREATED: "goal.created",
	UPDATED: "goal.updated",
	DELETED: "goal.deleted",
} as const satisfies Record<EventType, string>;

/**
 * Consumer groups. Each group gets its own durable queue per event on AMQP, shared by the
 * group's replicas. The producer emits to these groups explicitly so that an event for a group
 * whose nodes are all offline still reaches its queue.
 */
export const CONSUMER_GROUPS = {
	/** the goal service consumes client.* */
	goals: "goals",
	/** the client service consumes goal.* */
	clients: "clients",
} as const;

/** Groups known to consume each producer's events, whether or not a node of theirs is online. */
export const KNOWN_CONSUMERS: Record<Source, string[]> = {
	clients: [CONSUMER_GROUPS.goals],
	goals: [CONSUMER_GROUPS.clients],
};

/** Internal actions (visibility "public": callable by other nodes, never published over HTTP). */
export const INTERNAL_ACTIONS = {
	clientsEventsAfter: "clients.eventsAfter",
	goalsEventsAfter: "goals.eventsAfter",
	clientsEventsHead: "clients.eventsHead",
	goalsEventsHead: "goals.eventsHead",
	clientsSnapshot: "clients.snapshot",
	goalsSnapshot: "goals.snapshot",
	clientsLookup: "clients.lookup",
	goalsOfClient: "goals.ofClient",
} as const;

/**
 * Each consumer, declared once: whose events it reads, in which group, from which queues, and
 * the actions it serves. Services, readiness and the dead-letter routes read it from here.
 */
export interface ConsumerDeclaration {
	/** the consuming service (also the dead letters' prefix: `goals-12`) */
	service: ServiceName;
	/** the service whose events it consumes */
	producer: Source;
	/** its consumer group: one durable queue per event, shared by its replicas */
	group: string;
	events: readonly string[];
	/** the producer's internal action serving its log */
	readLogAction: string;
	/** the producer's internal action answering its log's last sequence */
	logHeadAction: string;
	/** its own internal action answering its checkpoint, pending retries and dead letters */
	stateAction: string;
	/** its own internal actions for dead letters (lib/consumer/dead-letters.ts) */
	deadLettersAction: string;
	deadLetterAction: string;
	retryDeadLetterAction: string;
	editDeadLetterAction: string;
	discardDeadLetterAction: string;
	retryDeadLettersAction: string;
	discardDeadLettersAction: string;
	purgeDeadLettersAction: string;
	/** its own internal actions for its pause (lib/consumer/consumers.ts): read, pause, resume */
	pauseStateAction: string;
	pauseAction: string;
	resumeAction: string;
	/** the producer's internal action serving a page of its snapshot */
	snapshotAction: string;
	/** its own internal actions: start a rebuild of its projection, and say how the last one went */
	rebuildAction: string;
	rebuildStateAction: string;
	/** its projection in words, for progress lines: "goals' copy of clients" */
	copyName: string;
}

export const CONSUMERS = {
	goals: {
		service: "goals",
		producer: SOURCES.clients,
		group: CONSUMER_GROUPS.goals,
		events: Object.values(CLIENT_EVENTS),
		readLogAction: INTERNAL_ACTIONS.clientsEventsAfter,
		logHeadAction: INTERNAL_ACTIONS.clientsEventsHead,
		stateAction: "goals.consumerState",
		deadLettersAction: "goals.deadLetters",
		deadLetterAction: "goals.deadLetter",
		retryDeadLetterAction: "goals.retryDeadLetter",
		editDeadLetterAction: "goals.editDeadLetter",
		discardDeadLetterAction: "goals.discardDeadLetter",
		retryDeadLettersAction: "goals.retryDeadLetters",
		discardDeadLettersAction: "goals.discardDeadLetters",
		purgeDeadLettersAction: "goals.purgeDeadLetters",
		pauseStateAction: "goals.consumerPause",
		pauseAction: "goals.pauseConsumer",
		resumeAction: "goals.resumeConsumer",
		snapshotAction: INTERNAL_ACTIONS.clientsSnapshot,
		rebuildAction: "goals.rebuild",
		rebuildStateAction: "goals.rebuildState",
		copyName: "goals' copy of clients",
	},
	clients: {
		service: "clients",
		producer: SOURCES.goals,
		group: CONSUMER_GROUPS.clients,
		events: Object.values(GOAL_EVENTS),
		readLogAction: INTERNAL_ACTIONS.goalsEventsAfter,
		logHeadAction: INTERNAL_ACTIONS.goalsEventsHead,
		stateAction: "clients.consumerState",
		deadLettersAction: "clients.deadLetters",
		deadLetterAction: "clients.deadLetter",
		retryDeadLetterAction: "clients.retryDeadLetter",
		editDeadLetterAction: "clients.editDeadLetter",
		discardDeadLetterAction: "clients.discardDeadLetter",
		retryDeadLettersAction: "clients.retryDeadLetters",
		discardDeadLettersAction: "clients.discardDeadLetters",
		purgeDeadLettersAction: "clients.purgeDeadLetters",
		pauseStateAction: "clients.consumerPause",
		pauseAction: "clients.pauseConsumer",
		resumeAction: "clients.resumeConsumer",
		snapshotAction: INTERNAL_ACTIONS.goalsSnapshot,
		rebuildAction: "clients.rebuild",
		rebuildStateAction: "clients.rebuildState",
		copyName: "clients' copy of goals",
	},
} as const satisfies Record<string, ConsumerDeclaration>;

/** The durable AMQP queue of one event in a consumer group (Moleculer's naming, with disableBalancer). */
export function eventQueueName(namespace: string, group: string, event: string): string {
	return `MOL${namespace ? `-${namespace}` : ""}.EVENTB.${group}.${event}`;
}

/** The durable AMQP queues a consumer reads, one per event it consumes. */
export function consumerQueueNames(namespace: string, consumer: ConsumerDeclaration): string[] {
	return consumer.events.map((event) => eventQueueName(namespace, consumer.group, event));
}

export const PAGE_SIZE_DEFAULT = 10;
export const PAGE_SIZE_MAX = 100;
/**
 * Highest page number a list accepts: an offset beyond what either database can take is a 422,
 * not a 500, and the distinct list pages (and so cache keys) one filter can have stay bounded.
 */
export const PAGE_MAX = 1_000_000;
/** Events per answer of an audit route (`/events`); `afterVersion` reads on. */
export const HISTORY_LIMIT_MAX = 1_000;
/**
 * Goals of one client in one answer (`Client.goals`, `GET /clients/:id/goals`): the first by
 * id; `GET /goals?clientId=` pages through all of them.
 */
export const CLIENT_GOALS_MAX = 1_000;
/** Largest id we accept: PostgreSQL SERIAL is a 32-bit integer. */
export const ID_MAX = 2_147_483_647;
/** Largest targetAmount the contract allows, in whole units. */
export const AMOUNT_MAX = 1e12;
/** Rows per page when a consumer reads a producer's log. */
export const CATCH_UP_PAGE_SIZE = 500;
/** Entities per page when a consumer reads a producer's snapshot (one transaction each). */
export const SNAPSHOT_PAGE_SIZE = 1000;

/** Our own metrics (Moleculer's registry; listed by `$node.metrics`, exported by its reporters). */
export const METRICS = {
	eventsPublished: "cg.events.published",
	eventsApplied: "cg.events.applied",
	eventsStale: "cg.events.stale",
	eventsFailed: "cg.events.failed",
	eventsRetried: "cg.events.retried",
	eventsDeadLettered: "cg.events.deadlettered",
	catchUpRuns: "cg.catchup.runs",
	catchUpEvents: "cg.catchup.events",
	snapshotEntities: "cg.snapshot.entities",
	propagationMs: "cg.events.propagation",
	eventsRejected: "cg.events.rejected",
	transitRejected: "cg.transit.rejected",
	httpErrors: "cg.http.errors",
	requestsHandedBack: "cg.requests.handedback",
	consumerLag: "cg.consumer.lag",
	retriesPending: "cg.consumer.retries.pending",
	deadLetters: "cg.consumer.deadletters",
	consumerPauses: "cg.consumer.pauses",
	consumerPaused: "cg.consumer.paused",
	deadLettersPurged: "cg.deadletters.purged",
	queueMessages: "cg.queue.messages",
	queueConsumers: "cg.queue.consumers",
	relayPublished: "cg.relay.published",
	relayLag: "cg.relay.lag",
} as const;

/**
 * Each producer's relay to the AMQP stream (lib/relay/): the internal action a gateway's
 * readiness asks for its checkpoint and the log's head.
 */
export const RELAYS = {
	clients: { producer: SOURCES.clients, stateAction: "clients.relayState" },
	goals: { producer: SOURCES.goals, stateAction: "goals.relayState" },
} as const satisfies Record<Source, { producer: Source; stateAction: string }>;
