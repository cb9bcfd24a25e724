/**
 * The relay's decisions (lib/relay/relay-rules.ts), given/when/then: what a log row becomes on
 * the exchange, what is published next and where the checkpoint moves after the broker's
 * confirms, whether a replica relays, how long it waits for the broker, the names under a prefix.
 */
import type { ClientEvent, GoalEvent } from "../../lib/domain/events";
import { confirmedThrough, decideLeadership, type LockAnswer, reconnectDelay, streamMessage, streamNames, toPublish } from "../../lib/relay/relay-rules";

const clientEvent: ClientEvent = {
	eventId: "4b0e9a54-54c5-4d55-9a1e-1d1c1a9b2c3d",
	eventType: "UPDATED",
	source: "clients",
	timestamp: "2026-11-27T02:15:30.789Z",
	sequence: 12,
	version: 3,
	clientId: 5,
	clientName: "Ann",
	clientEmail: "ann@example.com",
};

describe("the message of an event", () => {
	test("given a client event and its request id, then routing key = event name, body = the event's JSON, the contract's properties", () => {
		expect(streamMessage(clientEvent, "req-1")).toEqual({
			sequence: 12,
			routingKey: "client.updated",
			body: JSON.stringify(clientEvent),
			properties: {
				persistent: true,
				contentType: "application/json",
				messageId: clientEvent.eventId,
				timestamp: Math.floor(Date.parse("2026-11-27T02:15:30.789Z") / 1000),
				headers: { "x-request-id": "req-1" },
			},
		});
		expect(JSON.parse(streamMessage(clientEvent, "req-1").body)).toEqual(clientEvent);
	});

	test("given no known request id, then no x-request-id header", () => {
		expect(streamMessage(clientEvent, undefined).properties.headers).toEqual({});
	});

	test("given a goal event of each type, then its routing key is the goal event's name", () => {
		const goal: GoalEvent = { ...clientEvent, source: "goals", goalId: 1, clientId: 5, goalName: "House", targetAmount: 10.5 } as unknown as GoalEvent;
		expect(["CREATED", "UPDATED", "DELETED"].map((eventType) => streamMessage({ ...goal, eventType } as GoalEvent, undefined).routingKey)).toEqual([
			"goal.created",
			"goal.updated",
			"goal.deleted",
		]);
	});
});

describe("what to publish next, and where the checkpoint moves", () => {
	const page = (...sequences: number[]) => sequences.map((sequence) => ({ sequence }));

	test("given checkpoint 10 and a page read after it, then every event after 10, in log order", () => {
		expect(toPublish(10, page(13, 11, 12))).toEqual(page(11, 12, 13));
	});

	test("given a page that holds events at or below the checkpoint, then they are not published again", () => {
		expect(toPublish(12, page(11, 12, 13))).toEqual(page(13));
	});

	test.each<[string, number, Array<[number, boolean]>, number]>([
		[
			"all confirmed",
			10,
			[
				[11, true],
				[12, true],
				[13, true],
			],
			13,
		],
		[
			"the first refused",
			10,
			[
				[11, false],
				[12, true],
				[13, true],
			],
			10,
		],
		[
			"a hole in the middle (a confirm lost with the connection)",
			10,
			[
				[11, true],
				[12, false],
				[13, true],
			],
			11,
		],
		[
			"nothing answered",
			10,
			[
				[11, false],
				[12, false],
			],
			10,
		],
		[
			"outcomes in any order",
			10,
			[
				[13, true],
				[11, true],
				[12, true],
			],
			13,
		],
		["a page of nothing", 10, [], 10],
		[
			"outcomes below the checkpoint",
			12,
			[
				[11, true],
				[12, true],
				[13, true],
			],
			13,
		],
		[
			"log sequences with a gap (a rolled-back append)",
			10,
			[
				[11, true],
				[14, true],
			],
			14,
		],
	])("given %s, then the checkpoint moves over the confirmed run that starts the page", (_what, checkpoint, outcomes, expected) => {
		expect(
			confirmedThrough(
				checkpoint,
				outcomes.map(([sequence, confirmed]) => ({ sequence, confirmed })),
			),
		).toBe(expected);
	});
});

describe("who relays", () => {
	test.each<[string, boolean, LockAnswer | null, boolean, "gained" | "lost" | null]>([
		["SQLite, first look", false, null, true, "gained"],
		["SQLite, relaying", true, null, true, null],
	])("given %s, then it relays (one replica: no lock)", (_what, relayed, lock, relays, change) => {
		expect(decideLeadership("sqlite", relayed, lock)).toEqual({ relays, change });
	});

	test.each<[string, boolean, LockAnswer | null, boolean, "gained" | "lost" | null]>([
		["the lock taken by a waiting replica", false, "taken", true, "gained"],
		["the lock kept by the relay", true, "taken", true, null],
		["the lock held by another replica", false, "refused", false, null],
		["the lock's connection broken while relaying", true, "lost", false, "lost"],
		["the lock's connection broken while waiting", false, "lost", false, null],
		["a relay that lost its lock and finds another replica holds it", true, "refused", false, "lost"],
		["a look without asking the lock", true, null, true, null],
	])("given PostgreSQL and %s, then relays = %p", (_what, relayed, lock, relays, change) => {
		expect(decideLeadership("postgres", relayed, lock)).toEqual({ relays, change });
	});
});

test.each([
	[1, 500],
	[2, 1000],
	[3, 2000],
	[4, 4000],
	[5, 5000],
	[50, 5000],
])("given %p failed attempts to reach the broker in a row, then the next one waits %p ms", (failures, ms) => {
	expect(reconnectDelay(failures)).toBe(ms);
});

describe("the stream's names", () => {
	test("given no prefix, then the contract's names and arguments", () => {
		expect(streamNames("clients", "")).toEqual({
			exchange: "microservice.events",
			deadLetterExchange: "microservice.events.dlx",
			queue: { name: "client.events", bindingKey: "client.*", deadLetterQueue: "client.events.dlq" },
			queueArguments: { "x-message-ttl": 86_400_000, "x-dead-letter-exchange": "microservice.events.dlx", "x-dead-letter-routing-key": "client.events.dlq" },
			deadLetterQueueArguments: {},
			queueType: "classic",
		});
	});

	test("given AMQP_QUEUE_TYPE=quorum, then the queue and its DLQ are quorum queues, with the same TTL and dead-lettering", () => {
		const names = streamNames("clients", "", "quorum");
		expect(names.queueArguments).toEqual({
			"x-message-ttl": 86_400_000,
			"x-dead-letter-exchange": "microservice.events.dlx",
			"x-dead-letter-routing-key": "client.events.dlq",
			"x-queue-type": "quorum",
		});
		expect(names.deadLetterQueueArguments).toEqual({ "x-queue-type": "quorum" });
		expect(streamNames("clients", "", "classic")).toEqual(streamNames("clients", ""));
	});

	test("given a test's prefix, then every exchange and queue is under it, the binding key (event names) is not", () => {
		expect(streamNames("goals", "t1.")).toEqual({
			exchange: "t1.microservice.events",
			deadLetterExchange: "t1.microservice.events.dlx",
			queue: { name: "t1.goal.events", bindingKey: "goal.*", deadLetterQueue: "t1.goal.events.dlq" },
			queueArguments: {
				"x-message-ttl": 86_400_000,
				"x-dead-letter-exchange": "t1.microservice.events.dlx",
				"x-dead-letter-routing-key": "t1.goal.events.dlq",
			},
			deadLetterQueueArguments: {},
			queueType: "classic",
		});
	});
});
