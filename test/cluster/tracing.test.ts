/**
 * One request followed across the message hop (issue 11, must-show 3): an `X-Request-ID` sent
 * with `PUT /api/clients/:id` comes back on the answer, appears in the clients node's log line
 * for the commit, in the goals node's log line for applying the event, and in the spans of one
 * trace that a Zipkin collector receives from the three nodes: REST → clients.update → the
 * client.updated event → the goals handler → the projection write. Real processes over
 * RabbitMQ, Redis and PostgreSQL; the collector is a small HTTP server in the test taking
 * Zipkin v2 JSON (what Jaeger's Zipkin endpoint takes).
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { zipkinId } from "../../lib/infra/zipkin-exporter";
import { Cluster } from "../helpers/cluster";
import { client, request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import type { NodeProcess } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(120_000);

interface ZipkinSpan {
	traceId: string;
	id: string;
	parentId?: string | null;
	name: string;
	localEndpoint: { serviceName: string | null };
	tags: Record<string, string>;
}

describeWithInfra(["rabbitmq", "redis", "postgres"], "tracing across the message hop", () => {
	const spans: ZipkinSpan[] = [];
	const collector = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (chunk: Buffer) => chunks.push(chunk));
		req.on("end", () => {
			if (req.method === "POST" && req.url === "/api/v2/spans") spans.push(...(JSON.parse(Buffer.concat(chunks).toString("utf8")) as ZipkinSpan[]));
			res.writeHead(202).end();
		});
	});
	let cluster: Cluster;
	let api: ReturnType<typeof client>;
	let base: string;

	beforeAll(async () => {
		await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
		const port = (collector.address() as AddressInfo).port;
		cluster = new Cluster({ TRACING: "zipkin", ZIPKIN_URL: `http://127.0.0.1:${port}` });
		await cluster.setUp();
		await cluster.start("clients-1", "clients", { LOG_LEVEL: "debug" });
		await cluster.start("goals-1", "goals", { LOG_LEVEL: "debug" });
		base = await cluster.startApi("api-1");
		api = client(base);
	});
	afterAll(async () => {
		await cluster?.tearDown();
		await new Promise((resolve) => collector.close(resolve));
	});

	test("one X-Request-ID: on the answer, in both nodes' log lines, and in one trace from the gateway to the projection write", async () => {
		const created = await api.post("/clients", { name: "Traced", email: `traced-${cluster.namespace}@example.com` });
		expect(created.status).toBe(201);
		const id = created.body.id as number;
		// not hex: Moleculer's exporter would send it as a trace id no collector accepts
		const requestId = `trace.check-${randomBytes(6).toString("hex")}`;

		const res = await request("PUT", `${base}/clients/${id}`, { name: "Traced again" }, { headers: { "x-request-id": requestId } });
		expect(res.status).toBe(200);
		expect(res.headers.get("x-request-id")).toBe(requestId);

		const clientsNode = cluster.nodes.get("clients-1") as NodeProcess;
		const goalsNode = cluster.nodes.get("goals-1") as NodeProcess;
		const tag = `[request ${requestId}]`;
		await waitFor(() => clientsNode.output().includes(`Committed clients #2 UPDATED (entity ${id}, v2) ${tag}`), {
			timeoutMs: 10_000,
			what: `the clients node's log line for the commit with ${tag}`,
		});
		await waitFor(() => goalsNode.output().includes(`Applied clients #2 UPDATED (entity ${id}, v2) ${tag}`), {
			timeoutMs: 15_000,
			what: `the goals node's log line for applying the event with ${tag}`,
		});

		const traceId = zipkinId(requestId);
		const names = () => spans.filter((span) => span.traceId === traceId).map((span) => span.name);
		const hops = [`PUT /api/clients/${id}`, "action 'clients.update'", "event 'client.updated' in 'goals'", "apply client.updated (goals)"];
		// each node sends its spans every second: wait for all of them
		await waitFor(() => hops.every((hop) => names().includes(hop)), { timeoutMs: 20_000, what: `the spans ${hops.join(", ")}` });
		const trace = spans.filter((span) => span.traceId === traceId);
		expect(traceId).toMatch(/^[0-9a-f]{16}$/);
		// every span of the trace carries the request id as a tag, and nothing else is in it
		expect(new Set(trace.map((span) => span.tags.requestID))).toEqual(new Set([requestId]));
		expect(names()).toEqual(
			expect.arrayContaining([`PUT /api/clients/${id}`, "action 'clients.update'", "event 'client.updated' in 'goals'", "apply client.updated (goals)"]),
		);
		// from three nodes: the gateway, the producer and the consumer
		expect(new Set(trace.map((span) => span.localEndpoint.serviceName))).toEqual(new Set(["api", "clients", "goals"]));
		// one tree: every span but the root has its parent in the trace
		const ids = new Set(trace.map((span) => span.id));
		expect(trace.filter((span) => span.parentId && !ids.has(span.parentId)).map((span) => span.name)).toEqual([]);
	});
});
