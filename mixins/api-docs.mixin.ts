/**
 * The API reference on the gateway: `GET /api/openapi.json` (the document lib/http/openapi.ts
 * generates) and `GET /api/docs`, Swagger UI rendering it, its files served from this package's
 * node_modules (swagger-ui-dist), never from a CDN; and `GET /api/asyncapi.json`, the events'
 * document (lib/http/asyncapi.ts). Only the files named here are served: the
 * asset name is a key of a fixed table, never a path.
 */
import { readFileSync } from "node:fs";
import type { Context, ServiceSchema } from "moleculer";
import { Errors as WebErrors } from "moleculer-web";
import { ACTION_PARAMS } from "../lib/domain/action-params";
import { DOCS_HTML, DOCS_INIT_JS } from "../lib/http/docs-page";
import { openApiDocument } from "../lib/http/openapi";
import { asyncApiDocument } from "../lib/http/asyncapi";

const JS = "text/javascript; charset=utf-8";

/** asset name → its contents (files read on first use) and type */
const ASSETS: Record<string, { contents: () => Buffer | string; type: string }> = {
	"swagger-ui.css": { contents: () => fromPackage("swagger-ui-dist/swagger-ui.css"), type: "text/css; charset=utf-8" },
	"swagger-ui-bundle.js": { contents: () => fromPackage("swagger-ui-dist/swagger-ui-bundle.js"), type: JS },
	"init.js": { contents: () => DOCS_INIT_JS, type: JS },
};

const loaded = new Map<string, Buffer>();
function fromPackage(file: string): Buffer {
	let buffer = loaded.get(file);
	if (!buffer) {
		buffer = readFileSync(require.resolve(file));
		loaded.set(file, buffer);
	}
	return buffer;
}

type ResponseMeta = { $responseType?: string; $responseHeaders?: Record<string, string> };

/** A file's answer, with its Content-Length set here: Node computes it only when it writes a body, and a HEAD answer must have its GET's. */
function send(ctx: Context<unknown, ResponseMeta>, body: Buffer | string, type: string, headers: Record<string, string>): Buffer | string {
	ctx.meta.$responseType = type;
	ctx.meta.$responseHeaders = { ...headers, "Content-Length": String(Buffer.byteLength(body)) };
	return body;
}

export function ApiDocsMixin(version: string): Partial<ServiceSchema> {
	return {
		actions: {
			openapi: {
				handler() {
					return openApiDocument(version);
				},
			},
			asyncapi: {
				handler() {
					return asyncApiDocument(version);
				},
			},
			docs: {
				handler(ctx: Context<unknown, ResponseMeta>) {
					return send(ctx, DOCS_HTML, "text/html; charset=utf-8", {});
				},
			},
			docsAsset: {
				params: ACTION_PARAMS["api.docsAsset"],
				handler(ctx: Context<{ asset: string }, ResponseMeta>) {
					const asset = Object.hasOwn(ASSETS, ctx.params.asset) ? ASSETS[ctx.params.asset] : undefined;
					// the same 404 as an unknown route
					if (!asset) throw new WebErrors.NotFoundError("NOT_FOUND");
					return send(ctx, asset.contents(), asset.type, { "Cache-Control": "public, max-age=3600" });
				},
			},
		},
	};
}
