/**
 * Another team's Moleculer service living beside this project: plain Moleculer with its own AMQP
 * transporter options, in the same namespace, subscribing to every client and goal event in a
 * group of its own. From this project it takes only lib/neighbour.ts (another team imports it as
 * `moleculer-clients-goals/neighbour`): the packet protection a cluster with TRANSPORTER_SECRET
 * requires, and the event names.
 *
 *   TRANSPORTER=amqp://guest:guest@127.0.0.1:5672 NAMESPACE=prod \
 *     node --import tsx examples/neighbour-service.ts
 *
 * Settings (environment):
 *   TRANSPORTER             the cluster's RabbitMQ (several nodes separated by ';')
 *   NAMESPACE               the cluster's namespace
 *   TRANSPORTER_SECRET      the cluster's secret, if it has one (else nothing it sends is accepted);
 *                           while the cluster rotates it, the same comma list as its nodes
 *   NEIGHBOUR_GROUP         its consumer group (default `audit`): each event once per group
 *   NEIGHBOUR_AMQP_OPTIONS  JSON merged into Moleculer's AMQP options: this team's own choice, e.g.
 *                           {"autoDeleteQueues":600000} or {"eventTimeToLive":60000}
 *   NEIGHBOUR_SERIALIZER    its serializer (default JSON, as the project's): with another one
 *                           (Notepack, CBOR, …) neither side can read the other's packets, and
 *                           each drops them, but nothing else happens
 *   NODEID                  its node id (default audit-<pid>)
 * Flags: --wildcard subscribes `client.*` and `goal.*` instead of the six names; --json prints one
 * line per event received ({event, group, payload}) instead of a sentence.
 * It stops on SIGINT / SIGTERM.
 */
import { type Context, ServiceBroker } from "moleculer";
import { type DomainEvent, EVENT_NAMES, packetProtection } from "../lib/neighbour";

const group = process.env.NEIGHBOUR_GROUP?.trim() || "audit";
const wildcard = process.argv.includes("--wildcard");
const json = process.argv.includes("--json");
const ownOptions = JSON.parse(process.env.NEIGHBOUR_AMQP_OPTIONS?.trim() || "{}") as Record<string, unknown>;

const broker = new ServiceBroker({
	namespace: process.env.NAMESPACE ?? "",
	nodeID: process.env.NODEID?.trim() || `${group}-${process.pid}`,
	serializer: (process.env.NEIGHBOUR_SERIALIZER?.trim() || "JSON") as "JSON" | "JSONExt" | "MsgPack" | "Notepack" | "CBOR",
	transporter: { type: "AMQP", options: { url: process.env.TRANSPORTER ?? "amqp://guest:guest@127.0.0.1:5672", ...ownOptions } },
	// with the project's nodes: one durable queue per event and group, shared by this group's nodes
	disableBalancer: true,
	middlewares: [packetProtection(process.env.TRANSPORTER_SECRET)],
	logger: json ? false : { type: "Console", options: { level: "warn" } },
});

function received(ctx: Context<DomainEvent>): void {
	if (json) process.stdout.write(`${JSON.stringify({ event: ctx.eventName, group: ctx.eventGroups, payload: ctx.params })}\n`);
	else console.log(`${ctx.eventName} #${ctx.params.sequence} ${ctx.params.source} v${ctx.params.version}`);
}

const names = wildcard ? ["client.*", "goal.*"] : EVENT_NAMES;
broker.createService({
	name: group,
	events: Object.fromEntries(names.map((name) => [name, { group, handler: received }])),
});

broker.start().then(
	() => {
		if (json) process.stdout.write(`${JSON.stringify({ started: broker.nodeID })}\n`);
		else console.log(`${broker.nodeID} listening in group ${group} to ${names.join(", ")}`);
	},
	(err: Error) => {
		console.error(`The neighbour could not start: ${err.message}`);
		process.exit(1);
	},
);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.once(signal, () => {
		broker.stop().finally(() => process.exit(0));
	});
}
