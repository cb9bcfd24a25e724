/**
 * The gateway's static files (web/, lib/http/web-assets.ts) are looked up by the URL the client
 * sent, never by what is left of it after a route's prefix.
 *
 * moleculer-web tries the routes first; a route whose path prefixes the URL cuts that prefix off
 * `req.url` (`/api/admin` → `/`, `/api/ops/` → `/ops/`) and, when none of its aliases matches,
 * leaves it cut before handing the request to its static server. Then `/api/admin` found web/'s
 * root folder (a 301 to `/api/admin/` instead of the JSON 404) and `/api/ops/` served the
 * operations page under /api. Here the static server sees the original URL.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServiceSchema } from "moleculer";

type Serve = (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, next: (err?: unknown) => void) => void;

export function WebAssetsMixin(): Partial<ServiceSchema> {
	return {
		started() {
			// moleculer-web's static server, made in its `created` (all of which has run by now; the port opens later)
			const gateway = this as unknown as { serve?: Serve };
			const serve = gateway.serve;
			if (!serve) return;
			gateway.serve = (req, res, next) => {
				if (req.originalUrl) req.url = req.originalUrl;
				serve(req, res, next);
			};
		},
	};
}
