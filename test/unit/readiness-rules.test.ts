/**
 * The readiness rules (lib/infra/readiness-rules.ts), given/when/then: a gateway is DOWN until
 * every service its routes call has had a live node since it started; after that, a service
 * without a live node makes it DEGRADED (HTTP 200: its other routes are served), never DOWN.
 */
import { type Component, httpStatusOf, nodeStatus, servicesComponent, sighted, type Status } from "../../lib/infra/readiness-rules";

const up: Component = { status: "UP" };
const down: Component = { status: "DOWN" };
const degraded: Component = { status: "DEGRADED" };

describe("servicesComponent: each routed service's live nodes, and whether the gateway has seen them all", () => {
	interface Case {
		given: string;
		seenBefore: string[];
		when: Record<string, number>;
		then: Status;
		seenAfter: string[];
	}
	const cases: Case[] = [
		{ given: "a fresh gateway", seenBefore: [], when: { clients: 1, goals: 1 }, then: "UP", seenAfter: ["clients", "goals"] },
		{ given: "a fresh gateway", seenBefore: [], when: { clients: 1, goals: 0 }, then: "DOWN", seenAfter: ["clients"] },
		{ given: "a fresh gateway", seenBefore: [], when: { clients: 0, goals: 0 }, then: "DOWN", seenAfter: [] },
		{ given: "clients seen, goals never", seenBefore: ["clients"], when: { clients: 0, goals: 0 }, then: "DOWN", seenAfter: ["clients"] },
		{ given: "clients seen, goals never", seenBefore: ["clients"], when: { clients: 0, goals: 2 }, then: "DEGRADED", seenAfter: ["clients", "goals"] },
		{ given: "both seen", seenBefore: ["clients", "goals"], when: { clients: 1, goals: 0 }, then: "DEGRADED", seenAfter: ["clients", "goals"] },
		{ given: "both seen", seenBefore: ["clients", "goals"], when: { clients: 0, goals: 0 }, then: "DEGRADED", seenAfter: ["clients", "goals"] },
		{ given: "both seen", seenBefore: ["clients", "goals"], when: { clients: 2, goals: 3 }, then: "UP", seenAfter: ["clients", "goals"] },
	];

	test.each(cases)("given $given ($seenBefore), when the live nodes are $when, then $then", ({ seenBefore, when, then, seenAfter }) => {
		const { component, seen } = servicesComponent(when, new Set(seenBefore));
		expect(component.status).toBe(then);
		expect([...seen].sort()).toEqual(seenAfter);
	});

	test("each service shows its own status and live nodes", () => {
		expect(servicesComponent({ clients: 2, goals: 0 }, new Set(["clients", "goals"])).component).toEqual({
			status: "DEGRADED",
			clients: { status: "UP", nodes: 2 },
			goals: { status: "DOWN", nodes: 0 },
		});
	});

	test("a gateway's life: DOWN until goals first appears, then UP, and DEGRADED (not DOWN) whenever goals is gone", () => {
		let seen: ReadonlySet<string> = new Set();
		const statuses: Status[] = [];
		for (const live of [
			{ clients: 0, goals: 0 },
			{ clients: 1, goals: 0 },
			{ clients: 1, goals: 1 },
			{ clients: 1, goals: 0 },
			{ clients: 1, goals: 2 },
			{ clients: 0, goals: 2 },
		]) {
			const answer = servicesComponent(live, seen);
			seen = answer.seen;
			statuses.push(answer.component.status);
		}
		expect(statuses).toEqual(["DOWN", "DOWN", "UP", "DEGRADED", "UP", "DEGRADED"]);
	});
});

describe("sighted: the services seen live so far", () => {
	test("given none seen, when goals has a node, then goals is seen", () => {
		expect([...sighted(new Set(), { clients: 0, goals: 1 })]).toEqual(["goals"]);
	});

	test("given goals seen, when it has no node any more, then it stays seen", () => {
		expect([...sighted(new Set(["goals"]), { clients: 0, goals: 0 })]).toEqual(["goals"]);
	});

	test("given nothing new, then the same set is handed back", () => {
		const seen = new Set(["clients"]);
		expect(sighted(seen, { clients: 3, goals: 0 })).toBe(seen);
	});
});

describe("nodeStatus: the worst component, DOWN until the broker has started", () => {
	test.each([
		{ given: "every component UP", components: { database: up, services: up }, then: "UP" },
		{ given: "the services DEGRADED", components: { database: up, services: degraded }, then: "DEGRADED" },
		{ given: "the services DEGRADED and the cacher DOWN", components: { cacher: down, services: degraded }, then: "DOWN" },
		{ given: "a queue DOWN", components: { queues: down, services: up }, then: "DOWN" },
	] as Array<{ given: string; components: Record<string, Component>; then: Status }>)("given $given, then $then", ({ components, then }) => {
		expect(nodeStatus(true, components)).toBe(then);
	});

	test("given every component UP but the broker still starting, then DOWN", () => {
		expect(nodeStatus(false, { database: up, services: up })).toBe("DOWN");
	});
});

describe("httpStatusOf: only DOWN leaves the load balancer", () => {
	test.each([
		["UP", 200],
		["DEGRADED", 200],
		["DOWN", 503],
	] as Array<[Status, number]>)("given %s, then HTTP %i", (status, http) => {
		expect(httpStatusOf(status)).toBe(http);
	});
});
