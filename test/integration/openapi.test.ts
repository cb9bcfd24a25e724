/**
 * The API reference (issue 11, must-show 1): `GET /api/openapi.json` passes a real OpenAPI 3.1
 * validator (@readme/openapi-parser), documents every route of the contract (the gateway's own
 * route tables), and every example request in it is answered by the running gateway as the
 * document says: the status, and a body that the documented schema accepts (ajv, JSON Schema
 * 2020-12, OpenAPI 3.1's dialect). `GET /api/docs` serves Swagger UI from the package itself.
 */
import { validate } from "@readme/openapi-parser";
import Ajv2020 from "ajv/dist/2020";
import { ADMIN_ROUTES, OPS_ROUTES, ROUTES } from "../../lib/http/routes";
import { request } from "../helpers/http";
import { useSystem } from "../helpers/system";

const ADMIN_TOKEN = "openapi-test-admin-token-0123456789abcdef";

type Document = {
	openapi: string;
	paths: Record<string, Record<string, Operation>>;
	components: { schemas: Record<string, unknown> };
};
type Operation = { responses: Record<string, { content?: Record<string, { schema: unknown }> }> };

const gateway = useSystem({ env: { ADMIN_TOKEN } });
const { api } = gateway;

let doc: Document;

beforeAll(async () => {
	const res = await api.get("/openapi.json");
	expect(res.status).toBe(200);
	doc = res.body as Document;
});

test("the document is valid OpenAPI 3.1", async () => {
	expect(doc.openapi).toBe("3.1.0");
	// validate() may dereference what it is given: a copy
	const result = await validate(structuredClone(doc) as never);
	expect(result.valid ? [] : result.errors).toEqual([]);
	expect(result.warnings).toEqual([]);
});

test("every route of the gateway is documented with its method, and nothing else is", () => {
	const routes = [
		...Object.keys(ROUTES).map((route) => route.replace(" ", " /api")),
		...Object.keys(ADMIN_ROUTES).map((route) => route.replace(" ", " /api/admin")),
		...Object.keys(OPS_ROUTES).map((route) => route.replace(" ", " /ops")),
	].map((route) => route.replace(/:([a-z]+)/gi, "{$1}"));
	const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
	expect(documented.sort()).toEqual(routes.sort());
});

test("each example request is answered as documented: its status, and a body the documented schema accepts", async () => {
	const ajv = new Ajv2020({ strict: false, allErrors: true });
	ajv.addSchema({ $id: "doc", components: doc.components }, "doc");
	const schemaOf = (schema: unknown) => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/'));

	// a client (1) and its goal (1) for the examples to name
	const client = await api.post("/clients", { name: "Walk Owner", email: "walk-owner@example.com" });
	expect(client.status).toBe(201);
	expect(client.body.id).toBe(1);
	expect((await api.post("/goals", { clientId: 1, goalName: "Walk goal", targetAmount: 10 })).status).toBe(201);

	const { documentedRoutes } = await import("../../lib/http/openapi");
	// deletes last, a goal's before its client's: every example finds what it names
	const order = (route: { method: string; path: string }) => (route.method === "DELETE" ? (route.path.includes("/goals") ? 1 : 2) : 0);
	const walked: string[] = [];
	for (const route of documentedRoutes().sort((a, b) => order(a) - order(b))) {
		const { example } = route;
		let path = route.path;
		for (const [name, value] of Object.entries(example.path ?? {})) path = path.replace(`:${name}`, encodeURIComponent(String(value)));
		const query = new URLSearchParams(Object.entries(example.query ?? {}).map(([k, v]): [string, string] => [k, String(v)])).toString();
		const url = `${gateway.system.url.replace(/\/api$/, "")}${path}${query ? `?${query}` : ""}`;
		const res = await request(route.method, url, example.body, { headers: route.admin ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {} });
		const expected = example.answers ?? route.success;
		const operation = doc.paths[route.openApiPath][route.method.toLowerCase()];
		const response = operation.responses[String(res.status)];
		const what = `${route.method} ${path}${query ? `?${query}` : ""} answered ${res.status}: ${res.text.slice(0, 300)}`;
		expect({ what, status: res.status }).toEqual({ what, status: expected });
		expect(response).toBeDefined();
		const json = response.content?.["application/json"];
		if (json) {
			const check = ajv.compile(schemaOf(json.schema));
			const ok = check(res.body);
			expect({ what, errors: ok ? null : check.errors }).toEqual({ what, errors: null });
		} else if (response.content) {
			const type = res.headers.get("content-type") ?? "";
			expect(Object.keys(response.content).some((documented) => type.startsWith(documented))).toBe(true);
		} else {
			expect(res.text).toBe("");
		}
		walked.push(`${route.method} ${route.path}`);
	}
	expect(walked).toHaveLength(Object.keys(ROUTES).length + Object.keys(ADMIN_ROUTES).length + Object.keys(OPS_ROUTES).length);
});

test("GET /api/docs is Swagger UI over the document, with its files served by the gateway (no CDN)", async () => {
	const page = await api.get("/docs");
	expect(page.status).toBe(200);
	expect(page.headers.get("content-type")).toMatch(/^text\/html/);
	// the icon is an empty data: URL (no /favicon.ico request)
	const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]).filter((source) => source !== "data:,");
	expect(sources.sort()).toEqual(["docs/init.js", "docs/swagger-ui-bundle.js", "docs/swagger-ui.css"]);
	for (const source of sources) {
		const asset = await api.get(`/${source}`);
		expect({ source, status: asset.status }).toEqual({ source, status: 200 });
		expect(asset.text.length).toBeGreaterThan(100);
	}
	expect((await api.get("/docs/package.json")).status).toBe(404);
	expect((await api.get("/docs/..%2Fpackage.json")).status).toBe(404);
});
