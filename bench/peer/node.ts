/**
 * The peer: what a user would write instead of the project, a plain Moleculer 0.15 cluster of
 * the same shape (a moleculer-web gateway, a clients node, goals replicas) over the built-in
 * AMQP transporter, one `pg` pool of 10 per service, the JSON serializer; no cacher, no relay,
 * no request keys, no catch-up. One node per process:
 *
 *   SERVICES=api|clients|goals NAMESPACE=… NODEID=… TRANSPORTER=amqp://… \
 *   CLIENTS_DB_URI=postgres://… GOALS_DB_URI=postgres://… PORT=… node --import tsx bench/peer/node.ts
 *
 * Prints "peer node started" once its broker has started; SIGTERM stops it.
 */
import { type BrokerOptions, ServiceBroker } from "moleculer";
import { Pool } from "pg";
import { apiService } from "./api.service";
import { clientsService } from "./clients.service";
import { goalsService } from "./goals.service";

function required(name: string): string {
	const value = process.env[name];
	if (!value) throw new Error(`${name} is required`);
	return value;
}

const service = required("SERVICES");
const pools: Pool[] = [];
const pool = (uri: string) => {
	const created = new Pool({ connectionString: uri, max: 10 });
	pools.push(created);
	return created;
};

const amqp = {
	url: required("TRANSPORTER"),
	// requests and events handled concurrently per node (Moleculer's default is 1)
	prefetch: 32,
	// amqplib leaves Nagle on: a response written right after an event would wait for a delayed ACK
	socketOptions: { noDelay: true },
};

const options: BrokerOptions = {
	namespace: required("NAMESPACE"),
	nodeID: required("NODEID"),
	transporter: { type: "AMQP", options: amqp },
	// one queue per event group, shared by its replicas
	disableBalancer: true,
	serializer: "JSON",
	logger: { type: "Console", options: { level: "warn" } },
};

const broker = new ServiceBroker(options);
if (service === "api") broker.createService(apiService(Number(required("PORT"))));
else if (service === "clients") broker.createService(clientsService(pool(required("CLIENTS_DB_URI"))));
else if (service === "goals") broker.createService(goalsService(pool(required("GOALS_DB_URI"))));
else throw new Error(`SERVICES must be api, clients or goals, not ${service}`);

process.on("SIGTERM", () => {
	void broker
		.stop()
		.then(() => Promise.all(pools.map((p) => p.end())))
		.finally(() => process.exit(0));
});

broker.start().then(
	() => console.log("peer node started"),
	(err: Error) => {
		console.error(err);
		process.exit(1);
	},
);
