/**
 * The events' AsyncAPI document (issue 12, must-show 4): `GET /api/asyncapi.json` passes
 * @asyncapi/parser with no error, describes the contract's channels (the consumer groups' queues
 * and the AMQP stream: exchange, queues, TTL, dead-lettering), is the copy in docs/, and its
 * message schemas accept every event a real system emitted for a client and its goal being
 * created, changed and deleted through REST, and refuse wrong ones as the consumers' check does.
 *
 * AsyncAPI 3.0's default schema format is a superset of JSON Schema draft-07: ajv's draft-07
 * validator, with the formats (`uuid`) checked.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { DiagnosticSeverity, Parser } from "@asyncapi/parser";
import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { CLIENT_EVENTS, CONSUMERS, type EventType, eventQueueName, GOAL_EVENTS, type Source } from "../../lib/constants";
import { checkEvent } from "../../lib/domain/event-schema";
import type { DomainEvent } from "../../lib/domain/events";
import { loadConfig } from "../../moleculer.config";
import { expectErrorShape } from "../helpers/expect-error";
import { useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

type Json = Record<string, any>;

const gateway = useSystem();
const { api } = gateway;

let doc: Json;

beforeAll(async () => {
	const res = await api.get("/asyncapi.json");
	expect(res.status).toBe(200);
	expect(res.headers.get("content-type")).toMatch(/^application\/json/);
	doc = res.body as Json;
});

/** `node` with every local `$ref` replaced by what it points at (the document has no cycles). */
function resolve(node: unknown): any {
	if (Array.isArray(node)) return node.map(resolve);
	if (typeof node !== "object" || node === null) return node;
	const { $ref } = node as { $ref?: unknown };
	if (typeof $ref === "string") {
		expect($ref).toMatch(/^#\//);
		const target = $ref
			.slice(2)
			.split("/")
			.reduce<any>((at, key) => at?.[key.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
		expect({ $ref, found: target !== undefined }).toEqual({ $ref, found: true });
		return resolve(target);
	}
	return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, resolve(value)]));
}

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv);
const compiled = new Map<string, ValidateFunction>();
function validatorOf(schema: unknown): ValidateFunction {
	const key = JSON.stringify(schema);
	let check = compiled.get(key);
	if (!check) {
		check = ajv.compile(schema as object);
		compiled.set(key, check);
	}
	return check;
}

/** Every channel with its messages resolved: id, address, messages by key. */
function channels(): Array<{
	id: string;
	address: string;
	messages: Array<{ key: string; name: string; payload: unknown; headers?: unknown; examples?: Json[] }>;
}> {
	return Object.entries(doc.channels as Json).map(([id, channel]) => ({
		id,
		address: channel.address,
		messages: Object.entries(resolve(channel.messages) as Json).map(([key, message]) => ({ key, ...message })),
	}));
}

const EVENT_NAMES: Record<Source, Record<EventType, string>> = { clients: CLIENT_EVENTS, goals: GOAL_EVENTS };
const nameOf = (event: DomainEvent) => EVENT_NAMES[event.source][event.eventType];

describe("the document", () => {
	test("is valid AsyncAPI 3.0.0 for @asyncapi/parser: no error (other diagnostics printed)", async () => {
		expect(doc.asyncapi).toBe("3.0.0");
		const diagnostics = await new Parser().validate(structuredClone(doc) as never);
		const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
		const others = diagnostics.filter((d) => d.severity !== DiagnosticSeverity.Error);
		if (others.length > 0) {
			const lines = others.map((d) => `  ${DiagnosticSeverity[d.severity]} ${d.code}: ${d.message} (at ${d.path.join("/") || "/"})`);
			console.log(`@asyncapi/parser: ${errors.length} errors, ${others.length} other diagnostics:\n${lines.join("\n")}`);
		}
		expect(errors.map((d) => `${d.code}: ${d.message} at ${d.path.join("/")}`)).toEqual([]);
	});

	test("the parser's check can fail: a wrong delivery mode, a queue with an exchange, a message from another channel", async () => {
		const broken = structuredClone(doc);
		broken.operations.clientsRelayClientCreated.bindings.amqp.deliveryMode = 3;
		broken.channels.queueClientEvents.bindings.amqp.exchange = { name: "microservice.events" };
		broken.operations.consumeGoalEvents.messages.push({ $ref: "#/channels/queueClientEvents/messages/StreamClientCreated" });
		const errors = (await new Parser().validate(broken as never)).filter((d) => d.severity === DiagnosticSeverity.Error);
		const at = errors.map((d) => d.path.join("/"));
		expect(at).toEqual(
			expect.arrayContaining([
				"operations/clientsRelayClientCreated/bindings/amqp/deliveryMode",
				"channels/queueClientEvents/bindings/amqp",
				"operations/consumeGoalEvents/messages/3",
			]),
		);
	});

	test("is the copy kept in docs/asyncapi.json, with the program's version", () => {
		const committed = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "docs", "asyncapi.json"), "utf8"));
		expect(doc).toEqual(committed);
		expect(doc.info.version).toBe(loadConfig({}).api.version);
	});

	test("describes the consumer groups' queues: each event in its group, sent by its producer, received by its consumer", () => {
		for (const consumer of Object.values(CONSUMERS)) {
			for (const event of consumer.events) {
				const address = eventQueueName("{namespace}", consumer.group, event);
				const [id, channel] = Object.entries(doc.channels as Json).find(([, ch]) => ch.address === address) ?? [];
				expect({ address, found: Boolean(channel) }).toEqual({ address, found: true });
				expect(channel.bindings.amqp).toMatchObject({ is: "queue", queue: { name: address, durable: true, autoDelete: false } });
				const ops = Object.values(doc.operations as Json).filter((op) => op.channel.$ref === `#/channels/${id}`);
				expect(ops.map((op) => op.action).sort()).toEqual(["receive", "send"]);
				expect(ops.find((op) => op.action === "send").bindings.amqp.deliveryMode).toBe(2);
				expect(ops.find((op) => op.action === "receive").title).toBe(`${consumer.service} receives ${event}`);
			}
		}
		// a group of one's own: one channel per producer, the group and the event as parameters
		const other = Object.values(doc.channels as Json).filter((ch) => ch.address === "MOL-{namespace}.EVENTB.{group}.{event}");
		expect(other.map((ch) => ch.parameters.event.enum)).toEqual([Object.values(CLIENT_EVENTS), Object.values(GOAL_EVENTS)]);
	});

	test("describes the contract's AMQP stream: exchange, routing keys, queues with TTL and dead-lettering, persistent messages", () => {
		const byAddress = new Map(Object.values(doc.channels as Json).map((ch) => [ch.address, ch]));
		// the contract's words, not the constants: a rename there must fail here
		for (const event of ["client.created", "client.updated", "client.deleted", "goal.created", "goal.updated", "goal.deleted"]) {
			expect(byAddress.get(event)?.bindings.amqp).toEqual({
				is: "routingKey",
				exchange: { name: "microservice.events", type: "topic", durable: true, autoDelete: false },
				bindingVersion: "0.3.0",
			});
		}
		for (const [queue, key, dlq] of [
			["client.events", "client.*", "client.events.dlq"],
			["goal.events", "goal.*", "goal.events.dlq"],
		]) {
			expect(byAddress.get(queue)?.bindings.amqp).toEqual({
				is: "queue",
				queue: { name: queue, durable: true, exclusive: false, autoDelete: false },
				bindingVersion: "0.3.0",
				"x-arguments": { "x-message-ttl": 86_400_000, "x-dead-letter-exchange": "microservice.events.dlx", "x-dead-letter-routing-key": dlq },
				"x-bindings": [{ exchange: "microservice.events", type: "topic", bindingKey: key }],
			});
			expect(byAddress.get(dlq)?.bindings.amqp).toMatchObject({
				is: "queue",
				queue: { name: dlq, durable: true },
				"x-bindings": [{ exchange: "microservice.events.dlx", bindingKey: dlq }],
			});
		}
		const relays = Object.values(doc.operations as Json).filter(
			(op) => op.action === "send" && byAddress.get(resolve(op.channel).address)?.bindings.amqp.is === "routingKey",
		);
		expect(relays).toHaveLength(6);
		for (const relay of relays) expect(relay.bindings.amqp).toEqual({ deliveryMode: 2, timestamp: true, bindingVersion: "0.3.0" });
		for (const message of Object.values(doc.components.messages as Json).filter((m) => m.title.endsWith("(AMQP stream)"))) {
			expect(message.contentType).toBe("application/json");
			expect(Object.keys(message.headers.properties)).toEqual(["x-request-id"]);
			expect(message.bindings.amqp["x-properties"]).toMatchObject({ content_type: "application/json", delivery_mode: 2 });
		}
		expect(doc.servers.rabbitmq).toMatchObject({ host: "rabbitmq:5672", protocol: "amqp", protocolVersion: "0-9-1" });
		expect(doc.info.description).toContain("Each producer's relay publishes its event log there, in log order, at least once");
		expect(doc.info.description).not.toContain("not built yet");
	});

	test("every message's examples are accepted by its own schemas", () => {
		let examples = 0;
		for (const message of Object.values(resolve(doc.components.messages) as Json)) {
			for (const example of message.examples ?? []) {
				const payload = validatorOf(message.payload);
				expect({ example: example.name, errors: payload(example.payload) ? null : payload.errors }).toEqual({ example: example.name, errors: null });
				if (example.headers) expect(validatorOf(message.headers)(example.headers)).toBe(true);
				examples++;
			}
		}
		expect(examples).toBe(12);
	});
});

describe("its message schemas and the events a real system emits", () => {
	let events: DomainEvent[] = [];

	beforeAll(async () => {
		const client = await api.post("/clients", { name: "Async Reader", email: "async-reader@example.com" });
		expect(client.status).toBe(201);
		const goal = await api.post("/goals", { clientId: client.body.id, goalName: "Rainy day", targetAmount: 1200.5 });
		expect(goal.status).toBe(201);
		expect((await api.put(`/clients/${client.body.id}`, { name: "Async R. Reader" })).status).toBe(200);
		expect((await api.put(`/goals/${goal.body.id}`, { targetAmount: 1500 })).status).toBe(200);
		expect((await api.del(`/clients/${client.body.id}`)).status).toBe(204);
		// the goal service deletes the client's goal when it applies client.deleted
		const goalEvents = await waitFor(
			async () => {
				const res = await api.get(`/goals/${goal.body.id}/events`);
				return res.status === 200 && res.body.some((e: DomainEvent) => e.eventType === "DELETED") ? (res.body as DomainEvent[]) : null;
			},
			{ timeoutMs: 10_000, what: "the goal's DELETED event" },
		);
		const clientEvents = await api.get(`/clients/${client.body.id}/events`);
		expect(clientEvents.status).toBe(200);
		events = [...(clientEvents.body as DomainEvent[]), ...goalEvents];
	});

	test("all six event types occurred", () => {
		expect(events.map(nameOf).sort()).toEqual(["client.created", "client.deleted", "client.updated", "goal.created", "goal.deleted", "goal.updated"]);
	});

	test("each event is accepted by its message in every channel that carries it (5 each), and by no other message there", () => {
		const checked: string[] = [];
		for (const event of events) {
			const name = nameOf(event);
			expect(checkEvent(event.source, event, name).ok).toBe(true);
			const carrying = channels().filter((ch) => ch.messages.some((message) => message.name === name));
			// its group's queue, the other groups' queue, its routing key, its stream queue, that queue's DLQ
			expect({ name, channels: carrying.length }).toEqual({ name, channels: 5 });
			for (const channel of carrying) {
				for (const message of channel.messages) {
					const check = validatorOf(message.payload);
					const accepted = check(event);
					const what = `${name} (v${event.version}) in ${channel.id} as ${message.key}`;
					expect({ what, accepted, errors: accepted === (message.name === name) ? null : check.errors }).toEqual({
						what,
						accepted: message.name === name,
						errors: null,
					});
				}
				checked.push(`${channel.id}:${name}`);
			}
		}
		expect(checked).toHaveLength(30);
	});

	test("wrong events are refused by the document's schema, as by the consumers' check; an added field is let through by both", () => {
		const updated = events.find((event) => nameOf(event) === "client.updated") as Json;
		const goalUpdated = events.find((event) => nameOf(event) === "goal.updated") as Json;
		const schemaFor = (name: string) => {
			const message = channels()
				.find((ch) => ch.address === name)
				?.messages.find((m) => m.name === name);
			return validatorOf(message?.payload);
		};
		const without = (event: Json, field: string) => Object.fromEntries(Object.entries(event).filter(([key]) => key !== field));
		const wrong: Array<[string, string, Source, Json]> = [
			["missing clientEmail", "client.updated", "clients", without(updated, "clientEmail")],
			["missing eventId", "client.updated", "clients", without(updated, "eventId")],
			["an eventType of no kind", "client.updated", "clients", { ...updated, eventType: "ARCHIVED" }],
			["a CREATED event as client.updated", "client.updated", "clients", { ...updated, eventType: "CREATED" }],
			["version as text", "client.updated", "clients", { ...updated, version: String(updated.version) }],
			["an eventId that is no uuid", "client.updated", "clients", { ...updated, eventId: "not-a-uuid" }],
			["another source", "client.updated", "clients", { ...updated, source: "goals" }],
			["clientId 0", "client.updated", "clients", { ...updated, clientId: 0 }],
			["a name of 101 characters", "client.updated", "clients", { ...updated, clientName: "x".repeat(101) }],
			["a negative targetAmount", "goal.updated", "goals", { ...goalUpdated, targetAmount: -5 }],
			["targetAmount as text", "goal.updated", "goals", { ...goalUpdated, targetAmount: "1500" }],
			["missing goalId", "goal.updated", "goals", without(goalUpdated, "goalId")],
		];
		for (const [what, name, producer, event] of wrong) {
			expect({ what, schema: schemaFor(name)(event), consumers: checkEvent(producer, event, name).ok }).toEqual({ what, schema: false, consumers: false });
		}
		const added = { ...updated, region: "eu" };
		expect({ schema: schemaFor("client.updated")(added), consumers: checkEvent("clients", added, "client.updated").ok }).toEqual({
			schema: true,
			consumers: true,
		});
	});
});

test("GET and HEAD only: any other method is 405 with Allow", async () => {
	const get = await api.get("/asyncapi.json");
	const head = await api.send("HEAD", "/asyncapi.json");
	expect(head.status).toBe(200);
	expect(head.text).toBe("");
	expect(head.headers.get("content-length")).toBe(get.headers.get("content-length"));
	for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
		const res = await api.send(method, "/asyncapi.json");
		expectErrorShape(res, 405);
		expect({ method, allow: res.headers.get("allow") }).toEqual({ method, allow: "GET, HEAD" });
	}
});
