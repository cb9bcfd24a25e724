/**
 * The settings of each kind of queue (lib/infra/amqp-queues.ts), RabbitMQ's refusal of another
 * queue type read back, and the broker list of TRANSPORTER (lib/infra/amqp-urls.ts). Pure.
 * The transporter's own options are checked as a Moleculer node would compute them: the options
 * Moleculer gives each packet type, with ours over them.
 */
import { QUEUE_TYPES, queueKind, queueOptions, queueTypeMismatch, queueTypeMismatchMessage } from "../../lib/infra/amqp-queues";
import { ResilientAmqpTransporter } from "../../lib/infra/amqp-transporter";
import { brokerLabel, brokerUrls, urlForAttempt } from "../../lib/infra/amqp-urls";

describe("queue options by kind and type", () => {
	test("given a balanced queue, then it is shared; any other is the node's own", () => {
		expect([queueKind(true), queueKind(false), queueKind(undefined)]).toEqual(["shared", "private", "private"]);
	});

	test("given a shared event queue with its 24 h TTL, then classic keeps it durable, quorum adds x-queue-type", () => {
		const base = { messageTtl: 86_400_000 };
		expect(queueOptions("shared", "classic", base)).toEqual({ durable: true, messageTtl: 86_400_000 });
		expect(queueOptions("shared", "quorum", base)).toEqual({ durable: true, messageTtl: 86_400_000, arguments: { "x-queue-type": "quorum" } });
	});

	test("given a shared queue Moleculer would auto-delete or expire, then a quorum queue drops auto-delete (refused) and keeps the expiry and other arguments", () => {
		expect(queueOptions("shared", "quorum", { autoDelete: true, exclusive: true, expires: 120_000, arguments: { "x-max-length": 10 } })).toEqual({
			durable: true,
			expires: 120_000,
			arguments: { "x-max-length": 10, "x-queue-type": "quorum" },
		});
	});

	test.each(QUEUE_TYPES)("given AMQP_QUEUE_TYPE=%s, then a node's own queues are non-durable classic queues, with Moleculer's other options", (type) => {
		expect(queueOptions("private", type, {})).toEqual({ durable: false });
		expect(queueOptions("private", type, { autoDelete: true })).toEqual({ durable: false, autoDelete: true });
		expect(queueOptions("private", type, { messageTtl: 5000 })).toEqual({ durable: false, messageTtl: 5000 });
	});

	describe("as the transporter computes them per packet type (autoDeleteQueues: false, 24 h event TTL)", () => {
		const options = (queueType: "classic" | "quorum") =>
			new ResilientAmqpTransporter({ url: "amqp://127.0.0.1", autoDeleteQueues: false, eventTimeToLive: 86_400_000, queueType });

		test("given quorum, then the shared request and event-group queues are quorum queues, the event one with its TTL", () => {
			const tx = options("quorum");
			expect(tx._getQueueOptions("REQ", true)).toEqual({ durable: true, arguments: { "x-queue-type": "quorum" } });
			expect(tx._getQueueOptions("EVENTLB", true)).toEqual({ durable: true, messageTtl: 86_400_000, arguments: { "x-queue-type": "quorum" } });
		});

		test("given classic, then the shared queues are durable classic queues, as before", () => {
			const tx = options("classic");
			expect(tx._getQueueOptions("REQ", true)).toEqual({ durable: true });
			expect(tx._getQueueOptions("EVENTLB", true)).toEqual({ durable: true, messageTtl: 86_400_000 });
		});

		test.each(["classic", "quorum"] as const)("given %s, then REQ, RES, EVENT of the node and its broadcast queues are non-durable", (type) => {
			const tx = options(type);
			expect(tx._getQueueOptions("REQ")).toEqual({ durable: false });
			expect(tx._getQueueOptions("RES")).toEqual({ durable: false });
			expect(tx._getQueueOptions("EVENT")).toEqual({ durable: false, messageTtl: 86_400_000 });
			for (const cmd of ["INFO", "DISCOVER", "DISCONNECT", "PING", "PONG", "HEARTBEAT"]) {
				expect({ cmd, ...tx._getQueueOptions(cmd) }).toEqual({ cmd, durable: false, autoDelete: true });
			}
		});
	});
});

describe("RabbitMQ's refusal of another queue type (406), read back", () => {
	test("given a classic queue declared as quorum, then the queue and 'classic' (RabbitMQ says none)", () => {
		const message =
			"Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'MOL-x.REQB.goals.create' in vhost '/': received the value 'quorum' of type 'longstr' but current is none\"";
		expect(queueTypeMismatch(message)).toEqual({ queue: "MOL-x.REQB.goals.create", found: "classic" });
	});

	test("given a quorum queue declared as classic, then 'quorum'", () => {
		const message =
			"Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'client.events' in vhost 'cg': received none but current is the value 'quorum' of type 'longstr'\"";
		expect(queueTypeMismatch(message)).toEqual({ queue: "client.events", found: "quorum" });
	});

	test("given another argument refused (a neighbour's TTL, durability), then no type mismatch", () => {
		expect(
			queueTypeMismatch("PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received '2000' but current is '1000'"),
		).toBeNull();
		expect(queueTypeMismatch("PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'")).toBeNull();
	});

	test("the log line names the queue, the type found, AMQP_QUEUE_TYPE and the ways out", () => {
		const line = queueTypeMismatchMessage({ queue: "MOL-x.REQB.goals.create", found: "classic" }, "quorum");
		expect(line).toBe(
			"Queue 'MOL-x.REQB.goals.create' exists as a classic queue but AMQP_QUEUE_TYPE=quorum: this node uses it as it is (a classic queue, not replicated). " +
				"To change its type, drain it and delete it (rabbitmqctl delete_queue <name>) while no node uses it, or run the system under a new NAMESPACE (shared queues); " +
				'or set AMQP_QUEUE_TYPE=classic. See docs/cluster-and-deployment.md, "Several RabbitMQ nodes".',
		);
	});
});

describe("several RabbitMQ nodes in one URL setting", () => {
	test("given URLs separated by ';', then each, trimmed, in order, empty parts dropped", () => {
		expect(brokerUrls("amqp://a:5672; amqp://b:5673 ;amqp://c;")).toEqual(["amqp://a:5672", "amqp://b:5673", "amqp://c"]);
		expect(brokerUrls("amqp://guest:guest@127.0.0.1:5672")).toEqual(["amqp://guest:guest@127.0.0.1:5672"]);
		expect(brokerUrls(" ; ")).toEqual([]);
	});

	test("given connect attempts 1, 2, 3, 4, then the first, second, third and first URL again (Moleculer's rotation)", () => {
		const urls = ["amqp://a", "amqp://b", "amqp://c"];
		expect([1, 2, 3, 4, 5].map((attempt) => urlForAttempt(urls, attempt))).toEqual(["amqp://a", "amqp://b", "amqp://c", "amqp://a", "amqp://b"]);
		expect(urlForAttempt(["amqp://only"], 7)).toBe("amqp://only");
	});

	test.each([
		["amqp://guest:guest@127.0.0.1:5673", "127.0.0.1:5673"],
		["amqp://user:s3cr%40t@rabbit-2.internal:5672/cg", "rabbit-2.internal:5672"],
		["amqp://rabbit", "rabbit:5672"],
		["amqps://user:pw@rabbit.example/vhost", "rabbit.example:5671"],
		["amqp://user:pw@[::1]:5674", "[::1]:5674"],
		["not a url", "unknown"],
	])("given %p, then the label %p: host and port, never the user or password", (url, label) => {
		expect(brokerLabel(url)).toBe(label);
		expect(brokerLabel(url)).not.toMatch(/guest|user|s3cr|pw/);
	});
});
