/**
 * `/api/ready` on a gateway node counts, for each service its routes call, the live nodes that
 * serve it (what that makes of the gateway: test/unit/readiness-rules.test.ts). Real (local)
 * ServiceBrokers' registries.
 */
import { ServiceBroker } from "moleculer";
import { gatewayMemory, liveNodeCounts, noteLiveServices } from "../../lib/infra/readiness";

async function brokerWith(...names: string[]): Promise<ServiceBroker> {
	const broker = new ServiceBroker({ logger: false, nodeID: `ready-${names.join("-") || "none"}` });
	for (const name of names) broker.createService({ name, actions: { ping: () => "pong" } });
	await broker.start();
	return broker;
}

test("given both services on the node, then each has one live node", async () => {
	const broker = await brokerWith("clients", "goals");
	try {
		expect(liveNodeCounts(broker, ["clients", "goals"])).toEqual({ clients: 1, goals: 1 });
	} finally {
		await broker.stop();
	}
});

test("given no node serving goals, then goals has 0 live nodes", async () => {
	const broker = await brokerWith("clients");
	try {
		expect(liveNodeCounts(broker, ["clients", "goals"])).toEqual({ clients: 1, goals: 0 });
	} finally {
		await broker.stop();
	}
});

test("given goals served once and then destroyed, then it has 0 live nodes and stays seen", async () => {
	const broker = await brokerWith("clients", "goals");
	try {
		const memory = gatewayMemory(["clients", "goals"]);
		noteLiveServices(broker, memory);
		const goals = broker.getLocalService("goals");
		if (!goals) throw new Error("the goals service did not start");
		await broker.destroyService(goals);
		noteLiveServices(broker, memory);
		expect(liveNodeCounts(broker, ["clients", "goals"])).toEqual({ clients: 1, goals: 0 });
		expect([...memory.seen].sort()).toEqual(["clients", "goals"]);
	} finally {
		await broker.stop();
	}
});
