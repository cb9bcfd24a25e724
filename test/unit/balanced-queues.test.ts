/**
 * Which shared queues a node consumes: exactly those of the services it has registered now, so
 * that a node announcing its stop (no services listed) cancels every consumer.
 */
import { Utils } from "moleculer";
import { balancedQueues, consumerChanges, isOwnQueue, requestTtl, subscribedEventName } from "../../lib/infra/balanced-queues";

const goals = {
	name: "goals",
	actions: { "goals.create": {}, "goals.get": {} },
	events: { "client.created": {}, "client.deleted": { group: "goals" } },
};

test("given a service with actions and events, then each action has its request queue and each event its group's queue", () => {
	expect(balancedQueues("MOL-x", [goals]).map((queue) => queue.queue)).toEqual([
		"MOL-x.REQB.goals.create",
		"MOL-x.REQB.goals.get",
		"MOL-x.EVENTB.goals.client.created",
		"MOL-x.EVENTB.goals.client.deleted",
	]);
});

test("given an event with its own group, then its queue is the group's", () => {
	const audit = { name: "audit", events: { "client.created": { group: "reporting" } } };
	expect(balancedQueues("MOL", [audit])).toEqual([
		{ queue: "MOL.EVENTB.reporting.client.created", kind: "event", event: "client.created", group: "reporting" },
	]);
});

test("given two services of one group handling the same event, then the queue is listed once", () => {
	const one = { name: "one", events: { "x.y": { group: "g" } } };
	const two = { name: "two", events: { "x.y": { group: "g" } } };
	expect(balancedQueues("MOL", [one, two])).toHaveLength(1);
});

test("given no services (the broker announced its stop), then no queue is wanted", () => {
	expect(balancedQueues("MOL", [])).toEqual([]);
});

test("given consumers of queues no longer wanted, then those are cancelled and only the missing ones consumed", () => {
	const wanted = balancedQueues("MOL", [goals]);
	const changes = consumerChanges(["MOL.REQB.goals.create", "MOL.REQB.old.action"], wanted);
	expect(changes.cancel).toEqual(["MOL.REQB.old.action"]);
	expect(changes.consume.map((queue) => queue.queue)).toEqual(["MOL.REQB.goals.get", "MOL.EVENTB.goals.client.created", "MOL.EVENTB.goals.client.deleted"]);
});

test("given a node that stops, then every consumer is cancelled and nothing consumed", () => {
	expect(consumerChanges(["MOL.REQB.goals.create", "MOL.EVENTB.goals.client.created"], [])).toEqual({
		cancel: ["MOL.REQB.goals.create", "MOL.EVENTB.goals.client.created"],
		consume: [],
	});
});

test("given the wanted queues consumed already, then nothing changes", () => {
	const wanted = balancedQueues("MOL", [goals]);
	expect(
		consumerChanges(
			wanted.map((queue) => queue.queue),
			wanted,
		),
	).toEqual({ cancel: [], consume: [] });
});

test.each([
	[{ timeout: 10_000 }, "10000"],
	[{ timeout: 2500.2 }, "2501"],
	[{ timeout: 0 }, null],
	[{ timeout: null }, null],
	[{}, null],
	[{ timeout: "soon" }, null],
])("given a request with %p, then its message lives %p ms (null: until taken)", (payload, ttl) => {
	expect(requestTtl(payload)).toBe(ttl);
});

describe("whose shared queue it is (only the project's own are declared by a sender)", () => {
	const own = ["api", "clients", "goals"];
	test.each([
		["MOL-ns.REQB.clients.get", true],
		["MOL-ns.REQB.goals.create", true],
		["MOL-ns.EVENTB.goals.client.created", true],
		["MOL-ns.EVENTB.clients.goal.deleted", true],
		["MOL-ns.EVENTB.audit.client.created", false],
		["MOL-ns.EVENTB.audit.client.*", false],
		["MOL-ns.EVENTB.goalsx.client.created", false],
		["MOL-ns.REQB.billing.charge", false],
		["MOL-ns.REQB.$node.health", false],
		["MOL-other.EVENTB.goals.client.created", false],
		["MOL-ns.INFO", false],
	])("given %s, then own is %s", (queue, expected) => {
		expect(isOwnQueue("MOL-ns", queue, own)).toBe(expected);
	});
});

describe("the name a group's queue is consumed under", () => {
	test("given a group that subscribed the event by name, then the event's name", () => {
		expect(subscribedEventName("client.created", ["client.created", "client.*"], Utils.match)).toBe("client.created");
	});
	test("given a group that subscribed by wildcard only, then its pattern (Moleculer would publish to client.created, which nobody reads)", () => {
		expect(subscribedEventName("client.created", ["client.*", "goal.*"], Utils.match)).toBe("client.*");
	});
	test("given two matching patterns, then one of them, the same every time (one delivery per group)", () => {
		expect(subscribedEventName("client.created", ["client.**", "client.*"], Utils.match)).toBe("client.*");
		expect(subscribedEventName("client.created", ["client.*", "client.**"], Utils.match)).toBe("client.*");
	});
	test("given nothing known of the group (none of its nodes online), then the event's name", () => {
		expect(subscribedEventName("client.created", [], Utils.match)).toBe("client.created");
	});
});
