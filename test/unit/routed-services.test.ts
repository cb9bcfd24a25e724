/**
 * `/api/ready` on a gateway node counts, for each service its routes call, the live nodes that
 * serve it; one with none makes the node not ready. Real (local) ServiceBrokers' registries.
 */
import { ServiceBroker } from "moleculer";
import { routedServices } from "../../lib/infra/readiness";

async function brokerWith(...names: string[]): Promise<ServiceBroker> {
	const broker = new ServiceBroker({ logger: false, nodeID: `ready-${names.join("-") || "none"}` });
	for (const name of names) broker.createService({ name, actions: { ping: () => "pong" } });
	await broker.start();
	return broker;
}

test("given both services on the node, then each has one node and the component is UP", async () => {
	const broker = await brokerWith("clients", "goals");
	try {
		expect(routedServices(broker, ["clients", "goals"])).toEqual({
			status: "UP",
			clients: { status: "UP", nodes: 1 },
			goals: { status: "UP", nodes: 1 },
		});
	} finally {
		await broker.stop();
	}
});

test("given no node serving goals, then goals has 0 nodes and the component is DOWN", async () => {
	const broker = await brokerWith("clients");
	try {
		expect(routedServices(broker, ["clients", "goals"])).toEqual({
			status: "DOWN",
			clients: { status: "UP", nodes: 1 },
			goals: { status: "DOWN", nodes: 0 },
		});
	} finally {
		await broker.stop();
	}
});
