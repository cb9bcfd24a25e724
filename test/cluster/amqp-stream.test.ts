/**
 * The AMQP stream for programs outside Moleculer (issue 12): each producer's relay publishes
 * its event log to `microservice.events`, read here by examples/amqp-consumer.ts, a plain
 * amqplib program, run as a real process. Real node processes over a PRIVATE RabbitMQ (so it
 * can be restarted, with the contract's own names), the machine's Redis and PostgreSQL.
 *
 * 1. 300 changes through REST, RabbitMQ restarted in the middle: every event of both logs
 *    arrives, body exactly the audit trail's event, the contract's properties and the request id
 *    of the REST answer that caused it, first occurrences in log order; duplicates counted.
 * 2. Two clients replicas on one database: kill -9 the one relaying; the other takes over
 *    within 10 s; its lock's database connection cut, it stops relaying at once and takes the
 *    lock again; nothing lost.
 * 3. A message nacked with requeue comes back redelivered; one rejected lands in the DLQ with
 *    its x-death naming the queue.
 * 4. Every message received is accepted by the AsyncAPI document's schema for its channel.
 * And the relay's lag in /api/ready and /metrics while it cannot publish, then back to 0.
 */
import { randomUUID } from "node:crypto";
import amqp from "amqplib";
import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { Cluster, type ClusterInfra } from "../helpers/cluster";
import { type Delivery, type ExampleConsumer, startExampleConsumer } from "../helpers/example-consumer";
import { client, request } from "../helpers/http";
import { createDatabase, describeWithInfra, dropDatabase, INFRA_URLS } from "../helpers/infra";
import { freePort } from "../helpers/node-process";
import { PrivateRabbit } from "../helpers/private-infra";
import { waitFor } from "../helpers/wait";

jest.setTimeout(300_000);

type Json = Record<string, any>;
type Producer = "clients" | "goals";
const QUEUE_OF: Record<Producer, string> = { clients: "client.events", goals: "goal.events" };

/** A REST request that caused changes: its X-Request-ID, and the entity it named when it answered 2xx. */
interface Sent {
	requestId: string;
	kind: string;
	status: number;
	entity?: { producer: Producer; id: number };
}

/** An event-log row as the database holds it. */
interface LogRow {
	sequence: number;
	eventId: string;
	entityId: number;
	version: number;
	requestId: string | null;
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "the AMQP stream for programs outside Moleculer", () => {
	const rabbit = new PrivateRabbit();

	beforeAll(() => rabbit.start());
	afterAll(() => rabbit.destroy());

	describe("on a private RabbitMQ with the contract's names", () => {
		let cluster: Cluster;
		let apiUrl = "";
		let consumer: ExampleConsumer;
		const sent = new Map<string, Sent>();

		beforeAll(async () => {
			const infra: ClusterInfra = { rabbitmq: rabbit.url, redis: INFRA_URLS.redis, createDatabase, dropDatabase, cleanQueues: false };
			cluster = new Cluster({ EVENT_STREAM_PREFIX: "" }, infra);
			await cluster.setUp();
			await cluster.start("clients-1", "clients");
			await cluster.start("goals-1", "goals");
			apiUrl = await cluster.startApi("api-1");
			consumer = startExampleConsumer(rabbit.url, ["--queue", "client.events,goal.events"]);
		});
		afterAll(async () => {
			await consumer?.stop();
			await cluster?.tearDown();
		});

		/**
		 * Send one change, each attempt with an X-Request-ID of its own, until it answers below 500
		 * (503/504 while RabbitMQ restarts). One Idempotency-Key for all attempts: an attempt that
		 * committed but whose answer was lost is answered, not done again, by the next one.
		 */
		async function change(kind: string, method: string, path: string, body?: unknown): Promise<Json> {
			const producer: Producer = path.startsWith("/goals") ? "goals" : "clients";
			const idempotencyKey = randomUUID();
			const res = await waitFor(
				async () => {
					const requestId = `${kind}-${randomUUID()}`;
					const reply = await request(method, `${apiUrl}${path}`, body, { headers: { "x-request-id": requestId, "idempotency-key": idempotencyKey } });
					expect(reply.headers.get("x-request-id")).toBe(requestId);
					const id = reply.status < 300 ? Number(reply.body?.id ?? path.split("/")[2]) : undefined;
					sent.set(requestId, { requestId, kind, status: reply.status, entity: id ? { producer, id } : undefined });
					return reply.status < 500 ? reply : null;
				},
				{ timeoutMs: 90_000, intervalMs: 200, what: `${method} ${path} to answer` },
			);
			expect({ kind, path, status: res.status }).toEqual({ kind, path, status: method === "POST" ? 201 : method === "DELETE" ? 204 : 200 });
			return (res.body as Json) ?? {};
		}

		async function logOf(producer: Producer): Promise<LogRow[]> {
			return (await cluster.query<LogRow>(producer, `SELECT sequence, "eventId", "entityId", "version", "requestId" FROM event_log ORDER BY sequence`)).map(
				(row) => ({
					...row,
					sequence: Number(row.sequence),
					version: Number(row.version),
				}),
			);
		}

		/** Wait until the consumer acked every event of both logs; returns the logs. */
		async function allReceived(what: string): Promise<Record<Producer, LogRow[]>> {
			let logs: Record<Producer, LogRow[]> = { clients: [], goals: [] };
			await waitFor(
				async () => {
					logs = { clients: await logOf("clients"), goals: await logOf("goals") };
					const acked = new Set(consumer.deliveries.filter((d) => d.action === "ack").map((d) => d.properties.messageId));
					const missing = [...logs.clients, ...logs.goals].filter((row) => !acked.has(row.eventId));
					if (missing.length > 0) throw new Error(`${missing.length} event(s) not received yet, e.g. ${JSON.stringify(missing[0])}`);
					return true;
				},
				{ timeoutMs: 90_000, intervalMs: 250, what: `${what}\n${consumer.errors()}\n${cluster.logs().slice(-4000)}` },
			);
			return logs;
		}

		test("300 changes through REST, RabbitMQ restarted in the middle: every event received, exactly as the audit trail has it, in log order", async () => {
			const api = client(apiUrl);
			let done = 0;
			let restart: Promise<void> | null = null;
			let restartedAt = 0;
			const step = async (kind: string, method: string, path: string, body?: unknown) => {
				const answer = await change(kind, method, path, body);
				done++;
				if (done === 100) {
					restart = rabbit.restart().then(() => {
						restartedAt = done;
					});
				}
				return answer;
			};
			const clients: number[] = [];
			const goalsOf = new Map<number, number[]>();
			// 30 clients with 2 goals each (90), 100 client and 80 goal updates (180), 15 goals and 15 clients deleted (30)
			for (let i = 0; i < 30; i++) {
				const created = await step("client-create", "POST", "/clients", { name: `Stream ${i}`, email: `stream${i}-${cluster.namespace}@example.com` });
				clients.push(created.id);
				const goals: number[] = [];
				for (let g = 0; g < 2; g++)
					goals.push((await step("goal-create", "POST", "/goals", { clientId: created.id, goalName: `Goal ${i}.${g}`, targetAmount: 100 + i + g / 100 })).id);
				goalsOf.set(created.id, goals);
			}
			for (let i = 0; i < 100; i++) await step("client-update", "PUT", `/clients/${clients[i % 30]}`, { name: `Renamed ${i}` });
			for (let i = 0; i < 80; i++) {
				const goals = goalsOf.get(clients[i % 30]) as number[];
				await step("goal-update", "PUT", `/goals/${goals[i % 2]}`, { targetAmount: 1000 + i + 0.25 });
			}
			for (let i = 0; i < 15; i++) await step("goal-delete", "DELETE", `/goals/${(goalsOf.get(clients[i]) as number[])[0]}`);
			// each deleted client's remaining goals are deleted by the goal service, each with its own goal.deleted
			for (let i = 0; i < 15; i++) await step("client-delete", "DELETE", `/clients/${clients[i * 2]}`);
			expect(done).toBe(300);
			expect(restart).not.toBeNull();
			await restart;
			console.log(`RabbitMQ was back after change ${restartedAt} of 300`);

			const logs = await allReceived("every event of both logs to be received");
			const deliveries = consumer.deliveries.filter((d) => d.action === "ack");
			for (const producer of ["clients", "goals"] as const) {
				const log = logs[producer];
				const head = log[log.length - 1].sequence;
				const mine = deliveries.filter((d) => d.queue === QUEUE_OF[producer]);
				// first occurrences in increasing sequence, every sequence of the log (1..head) there
				const first: number[] = [];
				const seen = new Set<string>();
				for (const d of mine) {
					if (seen.has(d.properties.messageId)) continue;
					seen.add(d.properties.messageId);
					first.push(d.body.sequence);
				}
				expect(first).toEqual(log.map((row) => row.sequence));
				// A number missing from the log itself (1..head) is an append rolled back with its transaction:
				// PostgreSQL's sequences are not transactional, and a transaction may append and then roll back
				// (e.g. a retry whose request key collided with its first attempt's while RabbitMQ restarted, or a
				// consumer's batch redone one event at a time). No change, no event: every entity's history still
				// runs 1, 2, 3 … without a gap, so no committed change lacks its event.
				const holes = Array.from({ length: head }, (_, i) => i + 1).filter((sequence) => !log.some((row) => row.sequence === sequence));
				console.log(
					`${producer}: ${log.length} events (head ${head}, ${holes.length} sequence(s) never committed: ${holes.join(", ") || "none"}), ${mine.length} deliveries, ${mine.length - seen.size} duplicate(s)`,
				);
				const versions = new Map<number, number[]>();
				for (const row of log) versions.set(row.entityId, [...(versions.get(row.entityId) ?? []), row.version]);
				const gapped = [...versions].filter(([, vs]) => vs.some((v, i) => v !== i + 1)).map(([id, vs]) => `${id}: v${vs.join(",")}`);
				expect(gapped).toEqual([]);
			}
			// the cascade happened: a goal.deleted for each goal a deleted client still had, caused by its client's deletion
			const clientDeletes = new Set([...sent.values()].filter((s) => s.kind === "client-delete").map((s) => s.requestId));
			const cascaded = new Set(
				deliveries
					.filter((d) => d.routingKey === "goal.deleted" && clientDeletes.has(String(d.properties.headers["x-request-id"])))
					.map((d) => d.properties.messageId),
			);
			const leftWithDeletedClients = Array.from({ length: 15 }, (_, i) => (i * 2 < 15 ? 1 : 2)).reduce((sum, n) => sum + n, 0);
			expect(cascaded.size).toBe(leftWithDeletedClients);

			// each body exactly the audit trail's event; the contract's properties; the request id of the answer that caused it
			const byId = new Map<string, { row: LogRow; producer: Producer }>();
			for (const producer of ["clients", "goals"] as const) for (const row of logs[producer]) byId.set(row.eventId, { row, producer });
			const trails = new Map<string, Json>();
			for (const producer of ["clients", "goals"] as const) {
				for (const entityId of new Set(logs[producer].map((row) => row.entityId))) {
					const res = await api.get(`/${producer}/${entityId}/events`);
					expect(res.status).toBe(200);
					for (const event of res.body as Json[]) trails.set(event.eventId, event);
				}
			}
			expect(trails.size).toBe(logs.clients.length + logs.goals.length);
			for (const d of deliveries) {
				const { row, producer } = byId.get(d.properties.messageId) as { row: LogRow; producer: Producer };
				expect(d.body).toStrictEqual(trails.get(d.properties.messageId));
				const eventName = `${producer === "clients" ? "client" : "goal"}.${String(d.body.eventType).toLowerCase()}`;
				expect({ exchange: d.exchange, routingKey: d.routingKey, queue: d.queue }).toEqual({
					exchange: "microservice.events",
					routingKey: eventName,
					queue: QUEUE_OF[producer],
				});
				expect(d.properties).toMatchObject({
					messageId: d.body.eventId,
					contentType: "application/json",
					deliveryMode: 2,
					timestamp: Math.floor(Date.parse(d.body.timestamp) / 1000),
				});
				const requestId = String(d.properties.headers["x-request-id"]);
				expect(requestId).toBe(row.requestId);
				const cause = sent.get(requestId);
				expect({ requestId, sent: Boolean(cause) }).toEqual({ requestId, sent: true });
				if (cause?.entity && cause.status < 300) {
					// the answer named this entity, or (a client's deletion) the client whose goal this is
					const entityOf = producer === "clients" ? d.body.clientId : d.body.goalId;
					if (cause.kind === "client-delete" && producer === "goals") expect(d.body.clientId).toBe(cause.entity.id);
					else if (cause.kind !== "client-delete" || producer === "clients")
						expect({ requestId, entity: entityOf }).toEqual({ requestId, entity: cause.entity.id });
				}
			}
			const duplicates = deliveries.length - new Set(deliveries.map((d) => d.properties.messageId)).size;
			console.log(`stream: ${byId.size} events received, ${deliveries.length} deliveries, ${duplicates} duplicate(s)`);
		});

		test("every message received is accepted by the AsyncAPI document's schema for its channel", async () => {
			const doc = (await client(apiUrl).get("/asyncapi.json")).body as Json;
			const resolve = (node: unknown): any => {
				if (Array.isArray(node)) return node.map(resolve);
				if (typeof node !== "object" || node === null) return node;
				const { $ref } = node as { $ref?: unknown };
				if (typeof $ref === "string")
					return resolve(
						$ref
							.slice(2)
							.split("/")
							.reduce<any>((at, key) => at?.[key], doc),
					);
				return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, resolve(value)]));
			};
			const ajv = new Ajv({ allErrors: true, strict: true });
			addFormats(ajv);
			const compiled = new Map<string, ValidateFunction>();
			const validator = (schema: unknown) => {
				const key = JSON.stringify(schema);
				if (!compiled.has(key)) compiled.set(key, ajv.compile(schema as object));
				return compiled.get(key) as ValidateFunction;
			};
			const channelOf = (address: string) => {
				const channel = Object.values(doc.channels as Json).find((ch) => ch.address === address);
				expect({ address, found: Boolean(channel) }).toEqual({ address, found: true });
				return resolve(channel.messages) as Json;
			};
			const deliveries: Delivery[] = consumer.deliveries;
			expect(deliveries.length).toBeGreaterThanOrEqual(300);
			for (const d of deliveries) {
				// the queue's channel and the routing key's channel both carry it
				for (const address of [d.queue, d.routingKey]) {
					const message = Object.values(channelOf(address)).find((m: Json) => m.name === d.routingKey) as Json;
					expect({ address, name: d.routingKey, found: Boolean(message) }).toEqual({ address, name: d.routingKey, found: true });
					const payload = validator(message.payload);
					expect({ id: d.properties.messageId, address, errors: payload(d.body) ? null : payload.errors }).toEqual({
						id: d.properties.messageId,
						address,
						errors: null,
					});
					const headers = validator(message.headers);
					expect({ id: d.properties.messageId, errors: headers(d.properties.headers) ? null : headers.errors }).toEqual({
						id: d.properties.messageId,
						errors: null,
					});
				}
			}
		});

		test("two clients replicas on one database: kill -9 the relaying one, the other takes over within 10 s; its lock's connection cut, it stops and takes it again; nothing lost", async () => {
			await cluster.start("clients-2", "clients");
			const relayState = (nodeID: string) =>
				cluster.probe.call<{ relaying: boolean; checkpoint: number; head: number }, Record<string, never>>("clients.relayState", {}, { nodeID });
			const leader = await waitFor(
				async () => {
					const states = await Promise.all(["clients-1", "clients-2"].map((node) => relayState(node)));
					const relaying = ["clients-1", "clients-2"].filter((_, i) => states[i].relaying);
					return relaying.length === 1 ? relaying[0] : null;
				},
				{ timeoutMs: 20_000, intervalMs: 100, what: "exactly one clients replica relaying" },
			);
			const other = leader === "clients-1" ? "clients-2" : "clients-1";
			const ids = (await cluster.query<{ id: number }>("clients", `SELECT id FROM clients WHERE "deletedAt" IS NULL ORDER BY id LIMIT 5`)).map((row) => row.id);
			let writing = true;
			let writes = 0;
			const writer = (async () => {
				while (writing) {
					await change("client-update", "PUT", `/clients/${ids[writes % ids.length]}`, { name: `Failover ${writes}` });
					writes++;
				}
			})();
			try {
				await waitFor(() => writes >= 10, { timeoutMs: 30_000, what: "10 writes before the kill" });
				const killedAt = Date.now();
				await cluster.nodes.get(leader)?.kill9();
				cluster.nodes.delete(leader);
				await waitFor(async () => (await relayState(other)).relaying, { timeoutMs: 30_000, intervalMs: 50, what: `${other} to take the relay over` });
				const takeoverMs = Date.now() - killedAt;
				console.log(`relay takeover: ${takeoverMs} ms after kill -9 of ${leader}`);
				expect(takeoverMs).toBeLessThanOrEqual(10_000);
				const before = writes;
				await waitFor(() => writes >= before + 10, { timeoutMs: 30_000, what: "10 writes after the takeover" });

				// the relay lock's connection cut under the relay (PostgreSQL ends its backend): it stops at once, says so, and takes the lock again
				const node = cluster.nodes.get(other);
				const from = node?.output().length ?? 0;
				const [{ terminated }] = await cluster.query<{ terminated: number }>(
					"clients",
					`SELECT count(pg_terminate_backend(pid))::int AS terminated FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid::bigint = (hashtext('relay:clients')::bigint & 4294967295)
				 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
				);
				expect(terminated).toBe(1);
				await waitFor(() => node?.output().slice(from).includes("Stopped relaying the clients event log: the lock's database connection"), {
					timeoutMs: 10_000,
					what: `${other} to stop relaying\n${node?.output().slice(from)}`,
				});
				await waitFor(async () => (await relayState(other)).relaying, { timeoutMs: 10_000, intervalMs: 50, what: `${other} to relay again` });
				const afterCut = writes;
				await waitFor(() => writes >= afterCut + 10, { timeoutMs: 30_000, what: "10 writes after the lock's connection was cut" });
			} finally {
				// a failure above must not leave the writer running into the next tests (and past the tear-down)
				writing = false;
				await writer.catch(() => undefined);
			}
			const logs = await allReceived("every event, including those written around the kill, to be received");
			const state = await relayState(other);
			expect(state.checkpoint).toBe(logs.clients[logs.clients.length - 1].sequence);
			const deliveries = consumer.deliveries.filter((d) => d.action === "ack");
			console.log(
				`failover: ${writes} writes, ${deliveries.length} deliveries in all, ${deliveries.length - new Set(deliveries.map((d) => d.properties.messageId)).size} duplicate(s)`,
			);
		});

		test("a message nacked with requeue comes back redelivered; one rejected without requeue lands in client.events.dlq with x-death naming its queue", async () => {
			await consumer.stop();
			const api = client(apiUrl);
			const [{ id }] = await cluster.query<{ id: number }>("clients", `SELECT id FROM clients WHERE "deletedAt" IS NULL ORDER BY id LIMIT 1`);

			const requeuing = startExampleConsumer(rabbit.url, ["--queue", "client.events", "--requeue-first"]);
			try {
				expect((await api.put(`/clients/${id}`, { name: "Requeued" })).status).toBe(200);
				const [requeued, back] = await waitFor(
					() => {
						const mine = requeuing.deliveries.filter((d) => d.body.clientName === "Requeued");
						return mine.length >= 2 ? mine : null;
					},
					{ timeoutMs: 30_000, what: `the change delivered twice\n${requeuing.errors()}` },
				);
				expect({ action: requeued.action, redelivered: requeued.redelivered }).toEqual({ action: "requeue", redelivered: false });
				expect({ action: back.action, redelivered: back.redelivered, id: back.properties.messageId }).toEqual({
					action: "ack",
					redelivered: true,
					id: requeued.properties.messageId,
				});
			} finally {
				await requeuing.stop();
			}

			const rejecting = startExampleConsumer(rabbit.url, ["--queue", "client.events", "--reject"]);
			let rejected: Delivery;
			try {
				expect((await api.put(`/clients/${id}`, { name: "Rejected" })).status).toBe(200);
				rejected = await waitFor(() => rejecting.deliveries.find((d) => d.body.clientName === "Rejected"), {
					timeoutMs: 30_000,
					what: `the change delivered\n${rejecting.errors()}`,
				});
				expect(rejected.action).toBe("reject");
			} finally {
				await rejecting.stop();
			}
			const connection = await amqp.connect(rabbit.url);
			try {
				const channel = await connection.createChannel();
				// the rejecting consumer rejected whatever client.events still held too: look for this one
				const dead = await waitFor(
					async () => {
						for (;;) {
							const message = await channel.get("client.events.dlq", { noAck: true });
							if (!message) return null;
							if (message.properties.messageId === rejected.properties.messageId) return message;
						}
					},
					{ timeoutMs: 15_000, intervalMs: 100, what: "the rejected message in client.events.dlq" },
				);
				expect(dead.properties.messageId).toBe(rejected.properties.messageId);
				expect(JSON.parse(dead.content.toString())).toEqual(rejected.body);
				const deaths = dead.properties.headers?.["x-death"] as Json[] | undefined;
				expect(deaths).toHaveLength(1);
				const death = (deaths as Json[])[0];
				expect(death).toMatchObject({ queue: "client.events", reason: "rejected", exchange: "microservice.events", "routing-keys": ["client.updated"] });
				expect((await channel.checkQueue("client.events")).messageCount).toBe(0);
				await channel.close();
			} finally {
				await connection.close();
			}
		});
	});

	describe("the relay's lag, while it cannot publish", () => {
		// Moleculer on the machine's RabbitMQ; the stream on the private one (EVENT_STREAM_URL), stopped
		// so that REST keeps working while the relay cannot publish
		let cluster: Cluster;
		let api: ReturnType<typeof client>;
		let metricsUrl = "";

		beforeAll(async () => {
			cluster = new Cluster({ EVENT_STREAM_URL: rabbit.url });
			await cluster.setUp();
			const port = await freePort();
			metricsUrl = `http://127.0.0.1:${port}/metrics`;
			await cluster.start("clients-1", "clients", { METRICS_PORT: String(port) });
			await cluster.start("goals-1", "goals");
			api = client(await cluster.startApi("api-1"));
		});
		afterAll(async () => {
			await rabbit.start().catch(() => undefined);
			await cluster?.tearDown();
		});

		const relays = async () => (await api.get("/ready")).body.components.relays;
		const lagMetric = async () => {
			const text = await (await fetch(metricsUrl)).text();
			const match = text.match(/^cg_relay_lag\{[^}]*producer="clients"[^}]*\} (\d+)/m);
			return match ? Number(match[1]) : null;
		};

		test("/api/ready and /metrics show the lag growing while RabbitMQ is down, then 0 once it is back", async () => {
			const ids: number[] = [];
			for (let i = 0; i < 3; i++) ids.push((await api.post("/clients", { name: `Lag ${i}`, email: `relaylag${i}-${cluster.namespace}@example.com` })).body.id);
			await waitFor(async () => (await relays()).clients.lag === 0 && (await relays()).clients.head === 3, { timeoutMs: 20_000, what: "the relay at head 3" });
			expect((await relays()).clients).toEqual({ producer: "clients", head: 3, checkpoint: 3, lag: 0, reported: "live" });
			expect((await relays()).goals).toEqual({ producer: "goals", head: 0, checkpoint: 0, lag: 0, reported: "live" });

			await rabbit.stop();
			for (let i = 0; i < 5; i++) expect((await api.put(`/clients/${ids[i % 3]}`, { name: `Behind ${i}` })).status).toBe(200);
			expect(await relays()).toMatchObject({ status: "UP", clients: { head: 8, checkpoint: 3, lag: 5, reported: "live" } });
			await waitFor(async () => (await lagMetric()) === 5, { timeoutMs: 10_000, what: "cg_relay_lag 5 on /metrics" });
			for (let i = 0; i < 3; i++) expect((await api.put(`/clients/${ids[i]}`, { name: `Further ${i}` })).status).toBe(200);
			expect((await relays()).clients).toMatchObject({ head: 11, lag: 8 });
			const ready = await api.get("/ready");
			// informative: a relay behind does not make the gateway not ready
			expect(ready.status).toBe(200);
			await waitFor(async () => (await lagMetric()) === 8, { timeoutMs: 10_000, what: "cg_relay_lag 8 on /metrics" });

			await rabbit.start();
			await waitFor(async () => (await relays()).clients.lag === 0, { timeoutMs: 30_000, what: "the relay's lag back to 0" });
			expect((await relays()).clients).toEqual({ producer: "clients", head: 11, checkpoint: 11, lag: 0, reported: "live" });
			await waitFor(async () => (await lagMetric()) === 0, { timeoutMs: 10_000, what: "cg_relay_lag 0 on /metrics" });
			const published = (await (await fetch(metricsUrl)).text()).match(/^cg_relay_published\{[^}]*event="client.updated"[^}]*\} (\d+)/m);
			expect(Number(published?.[1])).toBe(8);
		});
	});
});
