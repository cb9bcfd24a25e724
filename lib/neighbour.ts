/**
 * What another team's Moleculer node imports to live beside this project on the same RabbitMQ
 * and namespace: the packet protection a cluster with TRANSPORTER_SECRET requires, the event
 * names and their payload types. Nothing else of the project is needed: the neighbour keeps
 * Moleculer's own AMQP transporter with whatever options it likes (queue expiry, message TTL),
 * subscribes to the events in a group of its own, and calls public actions.
 *
 *   import { packetProtection, EVENT_NAMES } from "moleculer-clients-goals/neighbour";
 *   new ServiceBroker({
 *     namespace, transporter: { type: "AMQP", options: { url } }, disableBalancer: true,
 *     middlewares: [packetProtection(process.env.TRANSPORTER_SECRET)],
 *   });
 *
 * (package.json's `exports` maps that name to dist/lib/neighbour.js after `npm run build`;
 * examples/neighbour-service.ts is a whole neighbour.) Without the secret a neighbour's packets
 * are dropped by every project node, counted and logged (`cg.transit.rejected`), and it cannot
 * read the project's: it sees no node, no service and no event.
 */
import type { Middleware } from "moleculer";
import { CLIENT_EVENTS, GOAL_EVENTS } from "./constants";
import { TRANSPORTER_SECRET_MIN_LENGTH, transitAuth } from "./infra/transit-auth";
import { secretList } from "./infra/secret-list";

export type { ClientEvent, DomainEvent, GoalEvent } from "./domain/events";

/** The six events every project node publishes (CONTRACT.md, "Events"). */
export const EVENT_NAMES = [...Object.values(CLIENT_EVENTS), ...Object.values(GOAL_EVENTS)] as const;

/**
 * The middleware that seals every packet this node sends and opens every one it receives with
 * the cluster's TRANSPORTER_SECRET (AES-256-GCM; lib/infra/transit-auth.ts). A comma list, as the
 * cluster's nodes take it while a secret is rotated: sealed with the first, opened with any.
 * Without a secret (the cluster runs without one) it does nothing.
 */
export function packetProtection(secret: string | undefined): Middleware {
	// the nodes' own check: a secret they would refuse is refused here too (a ConfigError)
	return transitAuth(secretList("TRANSPORTER_SECRET", secret, TRANSPORTER_SECRET_MIN_LENGTH));
}
