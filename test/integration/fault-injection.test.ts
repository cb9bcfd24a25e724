/**
 * FAULT_INJECTION (tests only): on with an explicit 1 or true (moleculer.config's unit tests
 * cover the values, FAULT_RULES and the production refusal), said loudly at start, shown in
 * /api/ready, and its `faults` action reachable only inside the node's own process: not over
 * HTTP (admin.test.ts), not from another node on the transporter.
 */
import { ServiceBroker } from "moleculer";
import { setFaults } from "../../lib/infra/fault-commands";
import { deleteQueues, describeWithInfra, INFRA_URLS, listQueues, uniqueName } from "../helpers/infra";
import { request } from "../helpers/http";
import { removeDir, startSystem, type TestSystem, useSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

describe("off unless FAULT_INJECTION=1", () => {
	const plain = useSystem({ env: { FAULT_INJECTION: "" } });

	test("no faults action at all, and /api/ready says it is off", async () => {
		await expect(setFaults(plain.system.broker, "goals", {})).rejects.toThrow(/No fault injection/);
		const ready = await request("GET", `${plain.system.url}/ready`);
		expect(ready.body.components.faultInjection).toEqual({ status: "UP", enabled: false });
	});
});

describe("FAULT_INJECTION=1", () => {
	const warnings: string[] = [];
	let spy: jest.SpyInstance;
	beforeAll(() => {
		// Moleculer's console logger writes warnings with console.warn
		spy = jest.spyOn(console, "warn").mockImplementation((...args: unknown[]) => void warnings.push(args.join(" ")));
	});
	const faulty = useSystem({ env: { FAULT_INJECTION: "1", FAULT_RULES: "apply:7:2" } });
	afterAll(() => spy.mockRestore());

	test("each service with fault injection says so at start, with its rules", () => {
		for (const service of ["clients", "goals"]) {
			expect(warnings.find((line) => line.includes(`FAULT INJECTION IS ON in '${service}'`) && line.includes("rules apply:7:2"))).toBeDefined();
		}
	});

	test("/api/ready shows it (an extra component; the contract's four are all there and UP)", async () => {
		const ready = await request("GET", `${faulty.system.url}/ready`);
		expect(ready.status).toBe(200);
		expect(ready.body.components.faultInjection).toEqual({ status: "UP", enabled: true });
		for (const component of ["database", "transporter", "cacher", "queues"]) expect(ready.body.components[component].status).toBe("UP");
	});

	test("the rules from FAULT_RULES, changed in the node's own process", async () => {
		expect(await setFaults(faulty.system.broker, "goals", {})).toEqual({ apply: { entities: [7], times: 2 }, crashAfterCommit: 0 });
		expect(await setFaults(faulty.system.broker, "goals", { apply: null })).toEqual({ apply: null, crashAfterCommit: 0 });
		// each service has its own
		expect(await setFaults(faulty.system.broker, "clients", {})).toEqual({ apply: { entities: [7], times: 2 }, crashAfterCommit: 0 });
	});

	test("the action is private: not even a local broker.call reaches it", async () => {
		await expect(faulty.system.broker.call("goals.faults", { apply: null })).rejects.toMatchObject({ name: "ServiceNotFoundError" });
		expect(faulty.system.broker.registry.getActionEndpoints("goals.faults")).toBeFalsy();
	});
});

describeWithInfra(["rabbitmq"], "another node on the transporter cannot reach it", () => {
	const namespace = uniqueName("fi").replace(/_/g, "-");
	let node: TestSystem;
	let probe: ServiceBroker;

	beforeAll(async () => {
		node = await startSystem({
			env: { SERVICES: "clients,goals", TRANSPORTER: INFRA_URLS.rabbitmq, NAMESPACE: namespace, NODEID: "faulty-1", FAULT_INJECTION: "1" },
		});
		probe = new ServiceBroker({
			namespace,
			nodeID: "probe-fi",
			transporter: { type: "AMQP", options: { url: INFRA_URLS.rabbitmq, autoDeleteQueues: false } },
			logger: false,
		});
		await probe.start();
		await waitFor(() => probe.registry.getActionEndpoints("goals.create")?.hasAvailable(), { timeoutMs: 20_000, what: "the probe to see the goals service" });
	}, 60_000);

	afterAll(async () => {
		await probe?.stop();
		await node?.stop();
		if (node) removeDir(node.dataDir);
		await deleteQueues(`MOL-${namespace}.`);
	}, 60_000);

	test("the node does not announce it, nor listen for requests to it; a call to it is 'not found'", async () => {
		// the node announced its other actions, so the absence of this one means something
		expect(probe.registry.getActionEndpoints("goals.eventsAfter")).toBeTruthy();
		expect(probe.registry.getActionEndpoints("goals.faults")).toBeFalsy();
		expect(probe.registry.getActionEndpoints("clients.faults")).toBeFalsy();
		for (const target of [{}, { nodeID: "faulty-1" }]) {
			await expect(probe.call("goals.faults", { apply: { entities: "all", times: "always" } }, target)).rejects.toMatchObject({
				name: "ServiceNotFoundError",
			});
		}
		// no request queue for it (a `protected` action would still have one, and be served)
		// (once the node's shared request queues are declared: they follow its services' start)
		const queues = await waitFor(
			async () => {
				const names = (await listQueues(`MOL-${namespace}.`)).map((queue) => queue.name);
				return names.includes(`MOL-${namespace}.REQB.goals.eventsAfter`) ? names : null;
			},
			{ timeoutMs: 20_000, intervalMs: 200, what: "the node's request queue for goals.eventsAfter" },
		);
		expect(queues.filter((name) => name.includes("faults"))).toEqual([]);
		// nothing was set
		expect(await setFaults(node.broker, "goals", {})).toEqual({ apply: null, crashAfterCommit: 0 });
	});
});
