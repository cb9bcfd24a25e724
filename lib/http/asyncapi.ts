/**
 * The AsyncAPI 3.0 document of the system's events, generated (pure) like the OpenAPI document:
 * the payloads are the event schemas the consumers check every event with
 * (lib/domain/event-schema.ts, converted by json-schema.ts), the names come from the constants
 * module and the AMQP stream's one definition (lib/domain/amqp-stream.ts). Two families:
 *
 * - the Moleculer events (CONTRACT.md, "Events"), as they travel over the AMQP transporter:
 *   one durable queue per consumer group and event (`MOL-<namespace>.EVENTB.<group>.<event>`);
 * - the AMQP stream for programs outside Moleculer (CONTRACT.md, "Events for programs outside
 *   Moleculer"): the topic exchange `microservice.events`, its two queues and their dead-letter
 *   queues, as each producer's relay (lib/relay/) declares them and publishes its event log there.
 *
 * AMQP bindings 0.3.0 (the version @asyncapi/parser's specs accept for AsyncAPI 3.0). What those
 * bindings have no field for (queue arguments, exchange bindings, message properties) is in `x-`
 * extensions on the binding objects.
 */
import {
	CLIENT_EVENTS,
	CONSUMERS,
	type ConsumerDeclaration,
	EVENT_TYPES,
	type EventType,
	eventQueueName,
	GOAL_EVENTS,
	type Source,
	SOURCES,
} from "../constants";
import { AMQP_STREAM, type StreamQueue, streamQueueArguments } from "../domain/amqp-stream";
import { EVENT_SCHEMAS } from "../domain/event-schema";
import { fieldsOf, type JsonSchema, objectSchema } from "./json-schema";

const BINDING_VERSION = "0.3.0";

/** One producer's events and everything named after them. */
interface Family {
	producer: Source;
	/** the payload schema's name: ClientEvent, GoalEvent */
	schema: string;
	/** event name by type: client.created, … */
	events: Record<EventType, string>;
	/** the consumer the contract names for these events (its group, its service) */
	consumer: ConsumerDeclaration;
	/** the AMQP stream's queue of these events */
	queue: StreamQueue;
	/** `Client`, `Goal`: in channel, message and operation ids */
	noun: string;
	/** an example event of the contract's shape (validated by @asyncapi/parser against its payload) */
	example: Record<string, unknown>;
}

const consumerOf = (producer: Source): ConsumerDeclaration => {
	const consumer = Object.values(CONSUMERS).find((declaration) => declaration.producer === producer);
	if (!consumer) throw new Error(`No consumer of '${producer}' is declared in lib/constants.ts`);
	return consumer;
};

const FAMILIES: Family[] = [
	{
		producer: SOURCES.clients,
		schema: "ClientEvent",
		events: CLIENT_EVENTS,
		consumer: consumerOf(SOURCES.clients),
		queue: AMQP_STREAM.queues.clients,
		noun: "Client",
		example: {
			eventId: "0b6f8d1e-8a4e-4c2a-9a51-3f6c2d1e7b90",
			eventType: "UPDATED",
			source: SOURCES.clients,
			timestamp: "2026-01-01T12:00:00.000Z",
			sequence: 12,
			version: 2,
			clientId: 5,
			clientName: "Ann Lee",
			clientEmail: "ann@example.com",
		},
	},
	{
		producer: SOURCES.goals,
		schema: "GoalEvent",
		events: GOAL_EVENTS,
		consumer: consumerOf(SOURCES.goals),
		queue: AMQP_STREAM.queues.goals,
		noun: "Goal",
		example: {
			eventId: "5d1c3a7e-2f4b-4e8d-b6a9-0c7e1f2a3b4c",
			eventType: "UPDATED",
			source: SOURCES.goals,
			timestamp: "2026-01-01T12:00:01.000Z",
			sequence: 7,
			version: 2,
			goalId: 3,
			clientId: 5,
			goalName: "House deposit",
			targetAmount: 30000.5,
		},
	},
];

/** What an event of each type says about its entity (CONTRACT.md). */
const TYPE_SUMMARIES: Record<EventType, string> = {
	CREATED: "created: its state, version 1",
	UPDATED: "changed: its whole state after the change, version one up",
	DELETED: "deleted: its last values, version one above its last",
};

const ref = ($ref: string) => ({ $ref });
/** client.created → ClientCreated */
const pascal = (name: string) =>
	name
		.split(".")
		.map((part) => part.charAt(0).toUpperCase() + part.slice(1))
		.join("");
const lower = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

const moleculerMessage = (event: string) => `Moleculer${pascal(event)}`;
const streamMessage = (event: string) => `Stream${pascal(event)}`;
const moleculerChannel = (group: string, event: string) => `moleculer${pascal(group)}${pascal(event)}`;
const otherGroupsChannel = (family: Family) => `moleculerOtherGroups${family.noun}Events`;
const exchangeChannel = (event: string) => `exchange${pascal(event)}`;
const queueChannel = (family: Family) => `queue${family.noun}Events`;
const deadLetterChannel = (family: Family) => `deadLetters${family.noun}Events`;

/** `{namespace}` stands for NAMESPACE in a Moleculer queue's address (the `namespace` parameter). */
const NAMESPACE_PARAMETER = "{namespace}";

const PARAMETERS = {
	namespace: {
		description:
			"The cluster's NAMESPACE (the same on every node). Without one, Moleculer's prefix is `MOL` alone: `MOL.EVENTB.<group>.<event>`, with no dash.",
		examples: ["production"],
	},
	group: {
		description:
			"The consumer group of a Moleculer service of your own: its event handlers' `group` (by default the service's name). Its replicas share one queue per event; every group receives every event.",
		examples: ["reports"],
	},
};

/** The payload of the event `name`: its family's schema, with the eventType that name carries. */
function eventPayload(family: Family, type: EventType): JsonSchema {
	return { allOf: [ref(`#/components/schemas/${family.schema}`), { type: "object", properties: { eventType: { const: type } } }] };
}

function exampleOf(family: Family, type: EventType): Record<string, unknown> {
	return { ...family.example, eventType: type, version: type === "CREATED" ? 1 : family.example.version };
}

const MOLECULER_WIRE =
	"On the AMQP transporter the message body is Moleculer's EVENT packet carrying this event in `data` (the nodes' serializer; encrypted and authenticated when TRANSPORTER_SECRET is set): read it with a Moleculer service, not a plain AMQP client. Programs outside Moleculer read the AMQP stream on `microservice.events` instead.";

function messages(): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const family of FAMILIES) {
		for (const type of EVENT_TYPES) {
			const event = family.events[type];
			const summary = `A ${family.noun.toLowerCase()} was ${TYPE_SUMMARIES[type]}.`;
			const examples = [{ name: lower(pascal(event)), payload: exampleOf(family, type) }];
			out[moleculerMessage(event)] = {
				name: event,
				title: `${event} (Moleculer event)`,
				summary,
				description: `The Moleculer event \`${event}\`, a ${family.schema} as a handler receives it (\`ctx.params\`). ${MOLECULER_WIRE}`,
				contentType: AMQP_STREAM.contentType,
				payload: eventPayload(family, type),
				examples,
			};
			out[streamMessage(event)] = {
				name: event,
				title: `${event} (AMQP stream)`,
				summary,
				description: [
					`Routing key \`${event}\`. The body is the event's JSON, a ${family.schema} exactly as the contract writes it.`,
					`Properties: \`content_type\` \`${AMQP_STREAM.contentType}\`, \`delivery_mode\` ${AMQP_STREAM.deliveryMode} (persistent), \`message_id\` = \`eventId\` (a redelivered or republished event keeps it: deduplicate by it, or by the entity's \`version\`), \`timestamp\` = the event's \`timestamp\` in whole seconds since the epoch.`,
					`Header \`${AMQP_STREAM.requestIdHeader}\`: the X-Request-ID of the change that caused the event.`,
				].join(" "),
				contentType: AMQP_STREAM.contentType,
				headers: {
					type: "object",
					properties: {
						[AMQP_STREAM.requestIdHeader]: {
							type: "string",
							minLength: 1,
							maxLength: 128,
							description: "the X-Request-ID of the REST request whose change this event records",
						},
					},
				},
				correlationId: { description: "The request that caused the change", location: `$message.header#/${AMQP_STREAM.requestIdHeader}` },
				payload: eventPayload(family, type),
				bindings: {
					amqp: {
						bindingVersion: BINDING_VERSION,
						"x-properties": {
							content_type: AMQP_STREAM.contentType,
							delivery_mode: AMQP_STREAM.deliveryMode,
							message_id: "the event's eventId",
							timestamp: "the event's timestamp, in whole seconds since the epoch",
						},
					},
				},
				examples: [{ ...examples[0], headers: { [AMQP_STREAM.requestIdHeader]: "3f2b7c1e-5a6d-4e8f-9b0a-1c2d3e4f5a6b" } }],
			};
		}
	}
	return out;
}

/** The amqp binding of a durable queue, with what the binding has no field for in `x-` extensions. */
function queueBinding(name: string, extensions: Record<string, unknown> = {}): Record<string, unknown> {
	return { amqp: { is: "queue", queue: { name, durable: true, exclusive: false, autoDelete: false }, bindingVersion: BINDING_VERSION, ...extensions } };
}

function messageRefs(names: string[]): Record<string, unknown> {
	return Object.fromEntries(names.map((name) => [name, ref(`#/components/messages/${name}`)]));
}

function channels(): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const family of FAMILIES) {
		const events = EVENT_TYPES.map((type) => family.events[type]);
		const { group, service } = family.consumer;
		for (const event of events) {
			const address = eventQueueName(NAMESPACE_PARAMETER, group, event);
			out[moleculerChannel(group, event)] = {
				address,
				title: `${event}, group ${group}`,
				description: `Moleculer's balanced event queue of \`${event}\` for the consumer group \`${group}\` (the ${service} service): durable, shared by the group's replicas (each event goes to one of them and is acked after its handler), kept while no consumer is up, messages held 24 h at most, persistent messages surviving a broker restart. The ${family.producer} service emits to it by name even when no node of the group is online.`,
				messages: messageRefs([moleculerMessage(event)]),
				parameters: { namespace: ref("#/components/parameters/namespace") },
				bindings: queueBinding(address),
			};
			out[exchangeChannel(event)] = {
				address: event,
				title: `${event} on ${AMQP_STREAM.exchange.name}`,
				description: `The routing key \`${event}\` on the durable topic exchange \`${AMQP_STREAM.exchange.name}\`: every ${family.producer} event of this type, in the producer's log order, at least once.`,
				messages: messageRefs([streamMessage(event)]),
				bindings: {
					amqp: {
						is: "routingKey",
						exchange: {
							name: AMQP_STREAM.exchange.name,
							type: AMQP_STREAM.exchange.type,
							durable: AMQP_STREAM.exchange.durable,
							autoDelete: AMQP_STREAM.exchange.autoDelete,
						},
						bindingVersion: BINDING_VERSION,
					},
				},
			};
		}
		const otherAddress = eventQueueName(NAMESPACE_PARAMETER, "{group}", "{event}");
		out[otherGroupsChannel(family)] = {
			address: otherAddress,
			title: `${family.producer} events, a group of your own`,
			description: `Any other Moleculer service may subscribe to the ${family.producer} events in a group of its own (same transporter, NAMESPACE and TRANSPORTER_SECRET) and receives every event too: the ${family.producer} service emits to every group in its registry as well as to \`${group}\`. Unlike \`${group}\`, such a group is not known in advance: a producer node emits to it once it has seen a node of the group (since that producer node started), so what was emitted before then is not queued for it.`,
			messages: messageRefs(events.map(moleculerMessage)),
			parameters: {
				namespace: ref("#/components/parameters/namespace"),
				group: ref("#/components/parameters/group"),
				event: { enum: events, description: `The event: one queue per event the group subscribes to.` },
			},
			bindings: queueBinding(otherAddress),
		};
		const { queue } = family;
		out[queueChannel(family)] = {
			address: queue.name,
			title: `${queue.name}: every ${family.producer} event`,
			description: `A durable queue bound to \`${AMQP_STREAM.exchange.name}\` with \`${queue.bindingKey}\`, for plain AMQP consumers in any language. A message waits at most 24 h (x-message-ttl ${AMQP_STREAM.messageTtlMs}); one that expires, or that a consumer rejects without requeue, goes through \`${AMQP_STREAM.deadLetterExchange.name}\` to \`${queue.deadLetterQueue}\`.`,
			messages: messageRefs(events.map(streamMessage)),
			bindings: queueBinding(queue.name, {
				"x-arguments": streamQueueArguments(queue),
				"x-bindings": [{ exchange: AMQP_STREAM.exchange.name, type: AMQP_STREAM.exchange.type, bindingKey: queue.bindingKey }],
			}),
		};
		out[deadLetterChannel(family)] = {
			address: queue.deadLetterQueue,
			title: `${queue.deadLetterQueue}: dead letters of ${queue.name}`,
			description: `A durable queue bound to the ${AMQP_STREAM.deadLetterExchange.type} exchange \`${AMQP_STREAM.deadLetterExchange.name}\` with \`${queue.deadLetterQueue}\` (the dead-letter routing key of \`${queue.name}\`). No time to live: dead letters stay until someone reads them. RabbitMQ adds the \`x-death\` header (the queue, the reason, the original routing key).`,
			messages: messageRefs(events.map(streamMessage)),
			bindings: queueBinding(queue.deadLetterQueue, {
				"x-bindings": [{ exchange: AMQP_STREAM.deadLetterExchange.name, type: AMQP_STREAM.deadLetterExchange.type, bindingKey: queue.deadLetterQueue }],
			}),
		};
	}
	return out;
}

/** An operation on `channel` carrying the messages `names` (a subset of the channel's). */
function operation(
	action: "send" | "receive",
	channel: string,
	names: string[],
	words: { title: string; summary: string; description?: string; tag: string },
	bindings: Record<string, unknown>,
): Record<string, unknown> {
	return {
		action,
		channel: ref(`#/channels/${channel}`),
		title: words.title,
		summary: words.summary,
		...(words.description ? { description: words.description } : {}),
		tags: [{ name: words.tag }],
		messages: names.map((name) => ref(`#/channels/${channel}/messages/${name}`)),
		bindings: { amqp: { ...bindings, bindingVersion: BINDING_VERSION } },
	};
}

const PERSISTENT = { deliveryMode: AMQP_STREAM.deliveryMode };
const ACKED = { ack: true };

function operations(): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const family of FAMILIES) {
		const events = EVENT_TYPES.map((type) => family.events[type]);
		const { group, service } = family.consumer;
		for (const event of events) {
			const channel = moleculerChannel(group, event);
			out[`${family.producer}Emit${pascal(event)}`] = operation(
				"send",
				channel,
				[moleculerMessage(event)],
				{
					title: `${family.producer} emits ${event}`,
					summary: `The ${family.producer} service emits \`${event}\` to the group \`${group}\` once the change and its event-log row are committed.`,
					description:
						"The event log is the truth: an event that is not delivered (a crash between commit and emit, a lost message) is read from the producer's log by the consumer's catch-up (at start, on a version gap, every 10 s).",
					tag: "moleculer",
				},
				PERSISTENT,
			);
			out[`${service}Receive${pascal(event)}`] = operation(
				"receive",
				channel,
				[moleculerMessage(event)],
				{
					title: `${service} receives ${event}`,
					summary: `The ${service} service checks the event against its schema and applies it to its projection, idempotently (a version older than it holds is a no-op).`,
					description:
						"A failing handler is retried (1 s, ×2, at most 10 s, 3 attempts), then the event is a dead letter of the consumer (admin API and REPL).",
					tag: "moleculer",
				},
				ACKED,
			);
			out[`${family.producer}Relay${pascal(event)}`] = operation(
				"send",
				exchangeChannel(event),
				[streamMessage(event)],
				{
					title: `${family.producer} publishes ${event} to ${AMQP_STREAM.exchange.name}`,
					summary: `The ${family.producer} service's relay publishes every \`${event}\` of its event log to \`${AMQP_STREAM.exchange.name}\`, in log order, at least once.`,
					description:
						"Persistent, with publisher confirms; the relay's checkpoint (in the producer's database) advances only over confirmed messages, so after a crash or a broker restart it publishes again what was not confirmed. One replica per service relays at a time.",
					tag: "amqp-stream",
				},
				{ ...PERSISTENT, timestamp: true },
			);
		}
		out[`${family.producer}EmitToOtherGroups`] = operation(
			"send",
			otherGroupsChannel(family),
			events.map(moleculerMessage),
			{
				title: `${family.producer} emits to other groups`,
				summary: `The ${family.producer} service emits each of its events to every consumer group in the registry as well.`,
				tag: "moleculer",
			},
			PERSISTENT,
		);
		out[`otherServicesReceive${family.noun}Events`] = operation(
			"receive",
			otherGroupsChannel(family),
			events.map(moleculerMessage),
			{
				title: `A service of your own receives ${family.producer} events`,
				summary: `A Moleculer service of your own handles \`${events.join("`, `")}\` in its own group; delivery is at least once, so handle each event idempotently (by \`eventId\`, or the entity's \`version\`).`,
				tag: "moleculer",
			},
			ACKED,
		);
		out[`consume${family.noun}Events`] = operation(
			"receive",
			queueChannel(family),
			events.map(streamMessage),
			{
				title: `Consume ${family.queue.name}`,
				summary: `A plain AMQP consumer reads \`${family.queue.name}\` and acks each message after handling it; it rejects without requeue what it cannot handle.`,
				description:
					"At least once: a message not acked (the consumer died) is delivered again, and the relay may publish an unconfirmed event twice, so deduplicate by `message_id` or the entity's `version`.",
				tag: "amqp-stream",
			},
			ACKED,
		);
		out[`consume${family.noun}DeadLetters`] = operation(
			"receive",
			deadLetterChannel(family),
			events.map(streamMessage),
			{
				title: `Consume ${family.queue.deadLetterQueue}`,
				summary: `Whoever handles the stream's dead letters reads \`${family.queue.deadLetterQueue}\`.`,
				tag: "amqp-stream",
			},
			ACKED,
		);
	}
	return out;
}

let built: { version: string; document: Record<string, unknown> } | null = null;

/** The document (built once per version; the tables it is made of do not change while the process runs). */
export function asyncApiDocument(version: string): Record<string, unknown> {
	if (built?.version === version) return built.document;
	const document = {
		asyncapi: "3.0.0",
		id: "urn:moleculer-clients-goals:events",
		info: {
			title: "Clients & Goals events",
			version,
			description: [
				"The events of the clients and goals services: `client.created|updated|deleted` (ClientEvent, from the client service) and `goal.created|updated|deleted` (GoalEvent, from the goal service). Each carries the entity's whole state after the change; `sequence` strictly increases per producer (its event-log order), `version` is the entity's version after the change. Delivery is at least once: consumers are idempotent and apply a version older than what they hold as a no-op.",
				"",
				"Two families on the same RabbitMQ (`TRANSPORTER=amqp://…`):",
				"",
				"- **Moleculer events** (tag `moleculer`): Moleculer's balanced event queues `MOL-<namespace>.EVENTB.<group>.<event>`. The goal service consumes `client.*` in the group `goals`, the client service `goal.*` in the group `clients`; any other Moleculer service may subscribe in a group of its own.",
				`- **The AMQP stream for programs outside Moleculer** (tag \`amqp-stream\`): the durable topic exchange \`${AMQP_STREAM.exchange.name}\` (routing key = event name), the queues \`${AMQP_STREAM.queues.clients.name}\` and \`${AMQP_STREAM.queues.goals.name}\` and their dead-letter queues, for a plain AMQP 0-9-1 client in any language. Each producer's relay publishes its event log there, in log order, at least once (publisher confirms; a checkpoint in the producer's database), and declares its queue and dead-letter queue; deduplicate by \`message_id\` (the \`eventId\`).`,
				"",
				"The payload schemas are the ones the consumers check every event with before applying it (lib/domain/event-schema.ts); they are open (a newer producer may add a field), as the consumers are.",
			].join("\n"),
			license: { name: "MIT" },
			tags: [
				{ name: "moleculer", description: "Moleculer events over the AMQP transporter" },
				{ name: "amqp-stream", description: `The exchange ${AMQP_STREAM.exchange.name} and its queues, for programs outside Moleculer` },
			],
		},
		defaultContentType: AMQP_STREAM.contentType,
		servers: {
			rabbitmq: {
				host: "rabbitmq:5672",
				pathname: "/{vhost}",
				protocol: "amqp",
				protocolVersion: "0-9-1",
				title: "RabbitMQ",
				description:
					"The broker of TRANSPORTER, as docker-compose.yml starts it (`amqp://<user>:<password>@rabbitmq:5672/<vhost>`); outside compose, whatever TRANSPORTER names. The exchange and queues live in that virtual host.",
				variables: { vhost: { description: "RABBITMQ_VHOST in .env", examples: ["cg"] } },
				security: [ref("#/components/securitySchemes/rabbitmqUser")],
			},
		},
		channels: channels(),
		operations: operations(),
		components: {
			// the schemas the consumers check events with; open, as the consumers are
			schemas: Object.fromEntries(FAMILIES.map((family) => [family.schema, objectSchema(fieldsOf(EVENT_SCHEMAS[family.producer]), false)])),
			messages: messages(),
			parameters: PARAMETERS,
			securitySchemes: { rabbitmqUser: { type: "userPassword", description: "RABBITMQ_USER and RABBITMQ_PASSWORD (.env)" } },
		},
	};
	built = { version, document };
	return document;
}
