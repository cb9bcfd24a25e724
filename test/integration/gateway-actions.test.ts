/**
 * moleculer-web's own actions that no route targets (`api.addRoute`, `api.removeRoute`,
 * `api.listAliases`) cannot be called from another node (issue 9, item 2, its visibility part).
 * moleculer-web declares addRoute and removeRoute "public": any process on the transporter could
 * add a route to `$node.options` or remove ours. A second ServiceBroker on the real RabbitMQ, in a
 * namespace of its own, tries: through its registry (as `broker.call` does) and with a request
 * packet written by hand to the api node, as a rogue process would. Nothing changes. The same
 * hand-written request for a published action (`api.health`) is answered, so the refusal is the
 * visibility's, not a packet that never arrived.
 */
import { type Context, ServiceBroker } from "moleculer";
import { request, watchNodeId } from "../helpers/http";
import { deleteQueues, describeWithInfra, INFRA_URLS, uniqueName } from "../helpers/infra";
import { removeDir, startSystem, type TestSystem } from "../helpers/system";
import { waitFor } from "../helpers/wait";

/** The parts of Moleculer's transit a hand-made request needs. */
interface Transit {
	request(ctx: Context): Promise<unknown>;
}

describeWithInfra(["rabbitmq"], "the gateway's own actions over the transporter", () => {
	const namespace = uniqueName("cg-gw").replace(/_/g, "-");
	let api: TestSystem;
	let rogue: ServiceBroker;

	beforeAll(async () => {
		watchNodeId(`gw-api-${process.pid}`);
		watchNodeId(`gw-rogue-${process.pid}`);
		api = await startSystem({ env: { TRANSPORTER: INFRA_URLS.rabbitmq, NAMESPACE: namespace, SERVICES: "api", NODEID: `gw-api-${process.pid}` } });
		rogue = new ServiceBroker({
			namespace,
			nodeID: `gw-rogue-${process.pid}`,
			transporter: { type: "AMQP", options: { url: INFRA_URLS.rabbitmq, autoDeleteQueues: false } },
			logger: false,
		});
		await rogue.start();
		await waitFor(() => rogue.registry.nodes.get(api.broker.nodeID)?.available, { timeoutMs: 10_000, what: "the rogue broker to see the api node" });
	}, 30_000);

	afterAll(async () => {
		await rogue?.stop();
		await api?.stop();
		await deleteQueues(`MOL-${namespace}.`);
		if (api) removeDir(api.dataDir);
	});

	/** A request packet for `action`, sent straight to the api node whatever the rogue's registry says. */
	function sendByHand(action: string, params: Record<string, unknown>): Promise<unknown> {
		const ctx = rogue.ContextFactory.create(rogue);
		ctx.setParams(params);
		ctx.action = { name: action };
		ctx.nodeID = api.broker.nodeID;
		const answer = (rogue.transit as unknown as Transit).request(ctx);
		let timer: NodeJS.Timeout | undefined;
		const deadline = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new Error(`no answer to ${action} within 5 s`)), 5000);
		});
		return Promise.race([answer, deadline]).finally(() => clearTimeout(timer));
	}

	const EVIL_ROUTE = { path: "/evil", mappingPolicy: "all", aliases: { "GET /options": "$node.options" } };
	const origin = () => api.url.replace(/\/api$/, "");

	test("the rogue's registry does not list them, so broker.call fails", async () => {
		const listed = rogue.registry.getActionList({}).map((item: { name: string }) => item.name);
		expect(listed).toContain("api.health");
		expect(listed.filter((name: string) => ["api.addRoute", "api.removeRoute", "api.listAliases", "api.rest"].includes(name))).toEqual([]);
		await expect(rogue.call("api.addRoute", { route: EVIL_ROUTE })).rejects.toMatchObject({ name: "ServiceNotFoundError" });
		await expect(rogue.call("api.removeRoute", { path: "/api" })).rejects.toMatchObject({ name: "ServiceNotFoundError" });
	});

	test("a request packet written by hand is refused, and the gateway's routes are as they were", async () => {
		// the control: the same hand-made packet reaches the node and a published action answers
		await expect(sendByHand("api.health", {})).resolves.toEqual({ status: "UP" });

		await expect(sendByHand("api.addRoute", { route: EVIL_ROUTE, toBottom: false })).rejects.toMatchObject({ name: "ServiceNotFoundError" });
		await expect(sendByHand("api.removeRoute", { path: "/api" })).rejects.toMatchObject({ name: "ServiceNotFoundError" });
		await expect(sendByHand("api.listAliases", {})).rejects.toMatchObject({ name: "ServiceNotFoundError" });

		expect((await request("GET", `${origin()}/evil/options`)).status).toBe(404);
		expect(await request("GET", `${api.url}/health`)).toMatchObject({ status: 200, body: { status: "UP" } });
	});

	test("a route whose service runs nowhere is a 503 that names no node and no action", async () => {
		// this api node runs alone: no clients service in the namespace (the leak check in
		// test/helpers/http.ts fails the test if the answer names a node)
		const res = await request("GET", `${api.url}/clients/1`);
		expect(res.status).toBe(503);
		expect(res.body).toEqual({ name: "ServiceUnavailableError", message: expect.any(String), code: 503, type: "SERVICE_UNAVAILABLE", data: null });
		expect(res.text).not.toMatch(/clients\.get|gw-/);
	});
});
