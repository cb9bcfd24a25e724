/**
 * What each REST route answers, in words and examples, beside what the code already says (the
 * route table in routes.ts, the parameter schemas in lib/domain/action-params.ts): summary,
 * success status and shape, the errors the contract names for it, and one example request.
 * lib/http/openapi.ts joins the three into the OpenAPI document; a test sends every example
 * request to a running gateway and checks the answer against the document.
 */
import type { ADMIN_ROUTES, OPS_ROUTES, ROUTES } from "./routes";

/** A response shape of components.schemas (openapi.ts), or none (204). */
export type Shape =
	| "Client"
	| "ClientPage"
	| "Goal"
	| "GoalList"
	| "GoalPage"
	| "ClientEventList"
	| "GoalEventList"
	| "Health"
	| "Readiness"
	| "DeadLetter"
	| "DeadLetterPage"
	| "RetriedCount"
	| "DiscardedCount"
	| "Consumer"
	| "ConsumerList"
	| "Rebuild"
	| "OpenApi"
	| "AsyncApi"
	| "Html"
	| "Asset"
	| null;

export interface RouteDoc {
	summary: string;
	description?: string;
	tag: "clients" | "goals" | "operations" | "admin";
	success: { status: 200 | 201 | 202 | 204; shape: Shape; description: string };
	/** error statuses beyond the ones every route of its kind has (openapi.ts adds those) with what they mean */
	errors?: Record<number, string>;
	/**
	 * One request the examples walk sends (path values, query, body) on a system holding client 1
	 * and goal 1, and the status it gets when that is not the success status (one of the documented ones).
	 */
	example: { path?: Record<string, string | number>; query?: Record<string, string | number>; body?: Record<string, unknown>; answers?: number };
}

const PAGED = "Paged: `page` from 1 (at most 1,000,000), `pageSize` 1..100 (default 10), ordered by id; a page past the last one is empty.";
const FILTER =
	"Filters (all optional, combined with AND): `consumer` (`goals`, `clients`), `eventType` (`CREATED`, `UPDATED`, `DELETED`), `entityId` (the event's client or goal id), `error` (a substring of `lastError`, case as written), `from` and `to` (ISO times: `from` ≤ `failedAt` < `to`, `failedAt` being the first failure).";
const HISTORY = "The audit trail, oldest first, kept after deletion: at most 1,000 events per answer (`limit`), read on with `afterVersion`.";

export const ROUTE_DOCS: Record<keyof typeof ROUTES | `admin ${keyof typeof ADMIN_ROUTES}` | `ops ${keyof typeof OPS_ROUTES}`, RouteDoc> = {
	"POST /clients": {
		summary: "Create a client",
		description: "Publishes `client.created`. The email is unique case-insensitively among living clients.",
		tag: "clients",
		success: { status: 201, shape: "Client", description: "The client, version 1, with no goals yet. `Location` names it." },
		errors: { 409: "The email is taken by another client." },
		example: { body: { name: "Ann Lee", email: "ann@example.com" } },
	},
	"GET /clients": {
		summary: "List clients",
		description: PAGED,
		tag: "clients",
		success: { status: 200, shape: "ClientPage", description: "One page of living clients." },
		example: { query: { page: 1, pageSize: 10 } },
	},
	"GET /clients/:id": {
		summary: "Read a client",
		description: "With `goals`, the client service's own copy of its goals (eventually consistent).",
		tag: "clients",
		success: { status: 200, shape: "Client", description: "The client." },
		example: { path: { id: 1 } },
	},
	"PUT /clients/:id": {
		summary: "Change a client's name or email",
		description: "At least one of `name`, `email`. Publishes `client.updated`; the version goes up by one.",
		tag: "clients",
		success: { status: 200, shape: "Client", description: "The client after the change." },
		errors: { 409: "The email is taken by another client." },
		example: { path: { id: 1 }, body: { name: "Ann B. Lee" } },
	},
	"DELETE /clients/:id": {
		summary: "Delete a client",
		description: "Publishes `client.deleted`; the goal service then deletes the client's goals, each with its own `goal.deleted`.",
		tag: "clients",
		success: { status: 204, shape: null, description: "Deleted." },
		example: { path: { id: 1 } },
	},
	"GET /clients/:id/goals": {
		summary: "A client's goals",
		description: "From the goal service: the client's living goals, by id (at most 1,000).",
		tag: "clients",
		success: { status: 200, shape: "GoalList", description: "The goals." },
		example: { path: { id: 1 } },
	},
	"GET /clients/:id/events": {
		summary: "A client's events (audit trail)",
		description: HISTORY,
		tag: "clients",
		success: { status: 200, shape: "ClientEventList", description: "The client's events after `afterVersion`." },
		example: { path: { id: 1 }, query: { afterVersion: 0, limit: 100 } },
	},
	"POST /goals": {
		summary: "Create a goal",
		description:
			"The client must exist: the goal service asks the client service (or, if it cannot be reached, its own copy of the clients). `targetAmount` has at most two decimals and is stored exactly. Publishes `goal.created`.",
		tag: "goals",
		success: { status: 201, shape: "Goal", description: "The goal, version 1. `Location` names it." },
		errors: { 422: "Invalid parameters, or the client does not exist or is deleted." },
		example: { body: { clientId: 1, goalName: "House deposit", targetAmount: 25000.5 } },
	},
	"GET /goals": {
		summary: "List goals",
		description: `${PAGED} \`clientId\` keeps one client's goals.`,
		tag: "goals",
		success: { status: 200, shape: "GoalPage", description: "One page of living goals." },
		example: { query: { clientId: 1, page: 1, pageSize: 10 } },
	},
	"GET /goals/:id": {
		summary: "Read a goal",
		description: "With `clientName`, the goal service's own copy of its client's name (eventually consistent).",
		tag: "goals",
		success: { status: 200, shape: "Goal", description: "The goal." },
		example: { path: { id: 1 } },
	},
	"PUT /goals/:id": {
		summary: "Change a goal's name or target",
		description: "At least one of `goalName`, `targetAmount`; `clientId` cannot change (422). Publishes `goal.updated`.",
		tag: "goals",
		success: { status: 200, shape: "Goal", description: "The goal after the change." },
		example: { path: { id: 1 }, body: { targetAmount: 30000 } },
	},
	"DELETE /goals/:id": {
		summary: "Delete a goal",
		description: "Publishes `goal.deleted`.",
		tag: "goals",
		success: { status: 204, shape: null, description: "Deleted." },
		example: { path: { id: 1 } },
	},
	"GET /goals/:id/events": {
		summary: "A goal's events (audit trail)",
		description: HISTORY,
		tag: "goals",
		success: { status: 200, shape: "GoalEventList", description: "The goal's events after `afterVersion`." },
		example: { path: { id: 1 } },
	},
	"GET /health": {
		summary: "Liveness of this node",
		tag: "operations",
		success: { status: 200, shape: "Health", description: "The node's process is up." },
		example: {},
	},
	"GET /ready": {
		summary: "Readiness of this node",
		description:
			"Database, transporter, cacher and each event queue this node consumes (depth and consumers, AMQP only); on a gateway node also the live nodes of each service it routes to. A gateway is DOWN until every one of them has had a live node since it started; after that, one without a live node makes it DEGRADED, not DOWN: only that service's routes answer 503.",
		tag: "operations",
		success: {
			status: 200,
			shape: "Readiness",
			description: "Ready: UP, or DEGRADED (a routed service has no live node; its routes answer 503, the others are served).",
		},
		errors: { 503: "Not ready (DOWN): the same body, with the components that are DOWN." },
		example: {},
	},
	"GET /openapi.json": {
		summary: "This document",
		description: "OpenAPI 3.1, generated from the schemas that validate the requests.",
		tag: "operations",
		success: { status: 200, shape: "OpenApi", description: "The OpenAPI document." },
		example: {},
	},
	"GET /asyncapi.json": {
		summary: "The events, as an AsyncAPI document",
		description:
			"AsyncAPI 3.0 of the events on RabbitMQ: the Moleculer events (`client.*`, `goal.*`) on their consumer groups' queues, and the AMQP stream for programs outside Moleculer (exchange `microservice.events`, queues `client.events` and `goal.events`, their dead-letter queues), to which each producer relays its event log. The payloads are the schemas the consumers check events with. Also in the repository as `docs/asyncapi.json`.",
		tag: "operations",
		success: { status: 200, shape: "AsyncApi", description: "The AsyncAPI document." },
		example: {},
	},
	"GET /docs": {
		summary: "The API reference, rendered",
		description: "Swagger UI over `/api/openapi.json`, served from the gateway itself.",
		tag: "operations",
		success: { status: 200, shape: "Html", description: "An HTML page." },
		example: {},
	},
	"GET /docs/:asset": {
		summary: "A file of the rendered reference",
		description: "`swagger-ui.css`, `swagger-ui-bundle.js` or `init.js`; any other name is 404.",
		tag: "operations",
		success: { status: 200, shape: "Asset", description: "The file (CSS or JavaScript)." },
		errors: { 404: "No such file." },
		example: { path: { asset: "init.js" } },
	},
	"ops GET /": {
		summary: "The operations page",
		description:
			"One HTML page, refreshed every 2 s from `/api/ready`: nodes and their services, queues with depth and consumers, each consumer's lag, pending retries and dead letters, event throughput; it says when a node or a queue goes away. Dead letters are listed and retried with the admin token typed into the page (kept for the browser tab only). Its script and style are the files beside it (`ops.js`, `ops.css`), served with it from the gateway's static files; its Content-Security-Policy allows scripts and styles from this origin only (no inline script or style) and requests to this origin only. `/ops` is redirected here.",
		tag: "operations",
		success: { status: 200, shape: "Html", description: "An HTML page." },
		example: {},
	},
	"admin GET /dead-letters": {
		summary: "List dead letters",
		description: `Events that failed every attempt (or their schema check), of every consumer, goals' first. ${FILTER} \`state\`: \`dead\` (waiting for an operator; the default), \`discarded\` or \`replayed\` (kept DEAD_LETTER_RETENTION_DAYS, then purged). ${PAGED}`,
		tag: "admin",
		success: { status: 200, shape: "DeadLetterPage", description: "One page of the dead letters the filter selects." },
		errors: { 503: "No consumer the filter concerns has a live node." },
		example: { query: { consumer: "goals", eventType: "UPDATED", error: "Injected fault", from: "2026-01-01T00:00:00Z", page: 1, pageSize: 20 } },
	},
	"admin POST /dead-letters/:id/retry": {
		summary: "Retry a dead letter",
		description:
			"The event (as edited, if it was) is applied again by its consumer, with a fresh set of attempts (`id` as listed, e.g. `goals-12`). Applied, it is kept as `replayed`; failing again, it is a dead letter again after its attempts.",
		tag: "admin",
		success: { status: 200, shape: "DeadLetter", description: "The dead letter, back in the retry table (state `pending`)." },
		errors: { 404: "No such dead letter (or it is not `dead`: already retried, discarded or replayed)." },
		example: { path: { id: "goals-1" }, answers: 404 },
	},
	"admin PUT /dead-letters/:id": {
		summary: "Edit a dead letter's event before replay",
		description:
			"`event` replaces the event the dead letter holds. It is checked as a consumed event is (the event schemas), and it stays the same event: `eventId`, `sequence`, `version` and the entity id (`clientId` of a client event, `goalId` of a goal event) cannot change. A bad edit changes nothing. The event as it failed is kept as `original`, and `edited` says when and by whom (the admin token's id, never the token). Then retry it.",
		tag: "admin",
		success: { status: 200, shape: "DeadLetter", description: "The dead letter with its edited `event`, `original` and `edited`." },
		errors: {
			404: "No such dead letter (or it is not `dead`).",
			422: "The edit is no event its consumer would take, or changes what cannot change; `data` names each field (`event.clientName`).",
		},
		example: {
			path: { id: "goals-1" },
			body: {
				event: {
					eventId: "0b0c4a1e-8f3b-4d2a-9c7e-2f1a3b4c5d6e",
					eventType: "UPDATED",
					source: "clients",
					timestamp: "2026-01-01T00:00:00.000Z",
					sequence: 2,
					version: 2,
					clientId: 1,
					clientName: "Ann Lee",
					clientEmail: "ann@example.com",
				},
			},
			answers: 404,
		},
	},
	"admin POST /dead-letters/retry": {
		summary: "Retry every dead letter a filter selects",
		description: `\`filter\` takes the list's keys (\`{}\`: every dead letter). Each is applied again with a fresh set of attempts, as one retried by id. ${FILTER}`,
		tag: "admin",
		success: { status: 200, shape: "RetriedCount", description: "How many were sent back for retry." },
		errors: { 503: "No consumer the filter concerns has a live node." },
		example: { body: { filter: { consumer: "goals", eventType: "UPDATED" } } },
	},
	"admin POST /dead-letters/discard": {
		summary: "Discard every dead letter a filter selects",
		description: `\`filter\` takes the list's keys (\`{}\`: every dead letter). Discarded letters are never applied; they are listed with \`state=discarded\` for DEAD_LETTER_RETENTION_DAYS (default 14), then purged. ${FILTER}`,
		tag: "admin",
		success: { status: 200, shape: "DiscardedCount", description: "How many were discarded." },
		errors: { 503: "No consumer the filter concerns has a live node." },
		example: { body: { filter: { error: "Injected fault", entityId: 1 } } },
	},
	"admin GET /consumers": {
		summary: "The consumers and whether they are paused",
		description:
			"Each consumer with a live node (`goals`: the goal service's copy of clients; `clients`: the client service's copy of goals): `running`, or `paused` with the reason (an operator's pause, or CONSUMER_PAUSE_AFTER consecutive failed events) and since when.",
		tag: "admin",
		success: { status: 200, shape: "ConsumerList", description: "The consumers." },
		errors: { 422: "A query parameter: this route takes none.", 503: "No consumer has a live node." },
		example: {},
	},
	"admin POST /consumers/:consumer/pause": {
		summary: "Pause a consumer",
		description:
			"Every replica of the consumer stops taking events until it is resumed (a pause is the consumer's, kept in its database: a replica that starts meanwhile starts paused). Its events wait in their RabbitMQ queues, nothing is dead-lettered for the pause, and the REST API answers as before. An optional `reason` is kept in the pause's reason.",
		tag: "admin",
		success: { status: 200, shape: "Consumer", description: "The consumer, paused." },
		errors: { 404: "No such consumer (they are `goals` and `clients`).", 503: "No node of that consumer is up." },
		example: { path: { consumer: "goals" }, body: { reason: "maintenance of the copy" } },
	},
	"admin POST /consumers/:consumer/resume": {
		summary: "Resume a consumer",
		description:
			"The consumer takes its events again: those that waited in its queues, and what its producer's log holds beyond its checkpoint. Its consecutive failures are counted from 0. Resumes a pause by failures too, without waiting for its try.",
		tag: "admin",
		success: { status: 200, shape: "Consumer", description: "The consumer, running." },
		errors: { 404: "No such consumer (they are `goals` and `clients`).", 503: "No node of that consumer is up." },
		example: { path: { consumer: "goals" } },
	},
	"admin POST /rebuild/:consumer": {
		summary: "Rebuild a consumer's projection",
		description:
			"Rebuilds `goals` (the goal service's copy of clients) or `clients` (the client service's copy of goals) from the producer's snapshot, then the log after it, while the node keeps serving: each row is written over in place (never emptied first), rows the snapshot lacks are removed at the end, and live events meanwhile are kept (the log after the snapshot is read again). Answers at once; follow it with `GET /api/admin/rebuild/{consumer}`. A rebuild already running is answered as it is, not started again.",
		tag: "admin",
		success: { status: 202, shape: "Rebuild", description: "The rebuild, started (state `running`)." },
		errors: { 404: "No such consumer (they are `goals` and `clients`).", 503: "No node of that consumer is up." },
		example: { path: { consumer: "goals" } },
	},
	"admin GET /rebuild/:consumer": {
		summary: "Progress of a consumer's rebuild",
		description:
			"The running bootstrap or rebuild of the consumer, else its latest, as its live nodes know it (a node's own since it started): state, the snapshot's sequence, entities read of the total, rows written and removed, events of the log applied after it, and the progress line the node logs.",
		tag: "admin",
		success: { status: 200, shape: "Rebuild", description: "The rebuild (or bootstrap) and where it is." },
		errors: { 404: "No such consumer, or no bootstrap or rebuild is known to a live node of it.", 503: "No node of that consumer is up." },
		example: { path: { consumer: "goals" } },
	},
};
