/**
 * `npm run docs`: writes the generated documents into docs/ (lib/http/published-docs.ts), with
 * the version the gateway would show. Run it after changing a route, a schema or an event name;
 * the test of the committed copies says when it is due.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../moleculer.config";
import { publishedDocs } from "../lib/http/published-docs";

// no environment: the documents depend on the program alone
const { version } = loadConfig({}).api;
const root = path.join(__dirname, "..");
for (const { file, text } of publishedDocs(version)) {
	writeFileSync(path.join(root, file), text);
	console.log(`wrote ${file} (${Buffer.byteLength(text)} bytes)`);
}
