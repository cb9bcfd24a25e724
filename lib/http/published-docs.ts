/**
 * The generated documents kept in the repository's `docs/`, for readers without a running
 * gateway (and for tools that take a file): the OpenAPI document of the REST API and the
 * AsyncAPI document of the events, each exactly as the gateway serves it. `npm run docs`
 * (bin/write-docs.ts) writes them; test/unit/published-docs.test.ts fails when a committed copy
 * is not what the generators produce now.
 */
import { asyncApiDocument } from "./asyncapi";
import { openApiDocument } from "./openapi";

export interface PublishedDoc {
	/** path from the repository's root */
	file: string;
	text: string;
}

const asJson = (document: unknown) => `${JSON.stringify(document, null, 2)}\n`;

export function publishedDocs(version: string): PublishedDoc[] {
	return [
		{ file: "docs/openapi.json", text: asJson(openApiDocument(version)) },
		{ file: "docs/asyncapi.json", text: asJson(asyncApiDocument(version)) },
	];
}
