/**
 * Readiness decisions, pure (lib/infra/readiness.ts does the asking around them):
 *
 * - how the components' statuses make the node's (the worst of them; DOWN until the broker has
 *   started every local service), and which HTTP status an answer gets: only DOWN is 503;
 * - on a gateway, the status of the services its routes call. Until each of them has had a live
 *   node since the gateway started, the gateway is DOWN: a load balancer sends it nothing that
 *   could only be a 503 (a fresh cluster whose services are still joining). After that, a service
 *   without a live node makes it DEGRADED, not DOWN: its routes answer 503, the other services'
 *   routes are served, and one missing service does not take every gateway out of the balancer
 *   (CONTRACT.md, `/api/ready`).
 */

export type Status = "UP" | "DEGRADED" | "DOWN";

export interface Component {
	status: Status;
	[detail: string]: unknown;
}

const SEVERITY: Record<Status, number> = { UP: 0, DEGRADED: 1, DOWN: 2 };

/** The worst of the statuses; UP when there are none. */
export function worst(statuses: readonly Status[]): Status {
	return statuses.reduce<Status>((worse, status) => (SEVERITY[status] > SEVERITY[worse] ? status : worse), "UP");
}

/** The node's status: the worst of its components, once the broker has started every local service (routes may answer 503 before). */
export function nodeStatus(started: boolean, components: Readonly<Record<string, Component>>): Status {
	return started ? worst(Object.values(components).map((component) => component.status)) : "DOWN";
}

/** What a load balancer reads: a DEGRADED node still serves most routes, so it stays in. */
export function httpStatusOf(status: Status): 200 | 503 {
	return status === "DOWN" ? 503 : 200;
}

/**
 * The services seen with a live node so far, after `liveNodes` (live nodes per routed service,
 * now): those seen before, and every one that has a node now. Only ever grows.
 */
export function sighted(seenBefore: ReadonlySet<string>, liveNodes: Readonly<Record<string, number>>): ReadonlySet<string> {
	const now = Object.keys(liveNodes).filter((name) => liveNodes[name] > 0 && !seenBefore.has(name));
	return now.length === 0 ? seenBefore : new Set([...seenBefore, ...now]);
}

/**
 * A gateway's `services` component, from the live nodes per routed service now and the services
 * seen live before (the gateway's memory, handed back with this answer's sightings added): each
 * service UP with its nodes or DOWN with none; the component UP when all are up, DEGRADED when
 * one is down after every one has been seen, DOWN before that.
 */
export function servicesComponent(
	liveNodes: Readonly<Record<string, number>>,
	seenBefore: ReadonlySet<string>,
): { component: Component; seen: ReadonlySet<string> } {
	const seen = sighted(seenBefore, liveNodes);
	const services = Object.entries(liveNodes).map(([name, nodes]) => [name, { status: nodes > 0 ? "UP" : "DOWN", nodes }] as const);
	const allUp = services.every(([, service]) => service.status === "UP");
	const allSeen = Object.keys(liveNodes).every((name) => seen.has(name));
	const status: Status = allUp ? "UP" : allSeen ? "DEGRADED" : "DOWN";
	return { component: { status, ...Object.fromEntries(services) }, seen };
}
