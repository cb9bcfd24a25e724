/**
 * The documents committed in docs/ are what the generators produce now (issue 12): a change to a
 * route, a parameter or event schema, or an event name without `npm run docs` fails here.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../moleculer.config";
import { publishedDocs } from "../../lib/http/published-docs";

const root = path.join(__dirname, "..", "..");
const docs = publishedDocs(loadConfig({}).api.version);

test("docs/ holds the OpenAPI and the AsyncAPI document", () => {
	expect(docs.map((doc) => doc.file)).toEqual(["docs/openapi.json", "docs/asyncapi.json"]);
});

test.each(docs.map((doc) => [doc.file, doc.text]))("%s is what the generator writes now (else: npm run docs)", (file, text) => {
	const committed = readFileSync(path.join(root, file), "utf8");
	// the parsed documents first, for a readable difference; then the exact text
	expect(JSON.parse(committed)).toEqual(JSON.parse(text));
	expect(committed).toBe(text);
});
