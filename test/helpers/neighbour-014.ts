/**
 * A neighbour on Moleculer 0.14 (protocol 4; the project runs 0.15, protocol 5), as another team
 * that has not upgraded would run it: its own namespace's AMQP transporter with Moleculer's
 * defaults, a service subscribing to every event in a group of its own. The two protocols cannot
 * read each other's packets: each side drops the other's. Run by test/cluster/neighbours.test.ts,
 * which checks that it costs the project nothing. Prints `{"started": nodeID}` once started.
 */
import { type Context, ServiceBroker } from "moleculer14";

const group = process.env.NEIGHBOUR_GROUP ?? "audit-old";
const broker = new ServiceBroker({
	namespace: process.env.NAMESPACE ?? "",
	nodeID: process.env.NODEID ?? `${group}-${process.pid}`,
	transporter: { type: "AMQP", options: { url: process.env.TRANSPORTER } },
	disableBalancer: true,
	logger: false,
});
broker.createService({
	name: group,
	events: Object.fromEntries(
		["client.created", "client.updated", "client.deleted", "goal.created", "goal.updated", "goal.deleted"].map((name) => [
			name,
			{
				group,
				handler: (ctx: Context) => {
					process.stdout.write(`${JSON.stringify({ event: ctx.eventName, payload: ctx.params })}\n`);
				},
			},
		]),
	),
});
broker.start().then(() => process.stdout.write(`${JSON.stringify({ started: broker.nodeID })}\n`));
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => broker.stop().finally(() => process.exit(0)));
