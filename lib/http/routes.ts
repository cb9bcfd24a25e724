/**
 * Every REST route of the contract and the action it calls: the gateway's aliases, the method
 * gate's table and the OpenAPI document are all made from these tables. `/api/admin` routes
 * need the admin token; the operations page is outside `/api`.
 */
import type { RoutedAction } from "../domain/action-params";

export const ROUTES = {
	"POST /clients": "clients.create",
	"GET /clients": "clients.list",
	"GET /clients/:id": "clients.get",
	"PUT /clients/:id": "clients.update",
	"DELETE /clients/:id": "clients.remove",
	"GET /clients/:id/goals": "clients.goals",
	"GET /clients/:id/events": "clients.history",
	"POST /goals": "goals.create",
	"GET /goals": "goals.list",
	"GET /goals/:id": "goals.get",
	"PUT /goals/:id": "goals.update",
	"DELETE /goals/:id": "goals.remove",
	"GET /goals/:id/events": "goals.history",
	"GET /health": "api.health",
	"GET /ready": "api.ready",
	"GET /openapi.json": "api.openapi",
	"GET /asyncapi.json": "api.asyncapi",
	"GET /docs": "api.docs",
	"GET /docs/:asset": "api.docsAsset",
} as const satisfies Record<string, RoutedAction>;

/**
 * The operations page, a page for people beside the API: `GET /ops/`. No alias: it is the file
 * web/ops/index.html, served with its script and style by moleculer-web's static server
 * (lib/http/web-assets.ts; `/ops` is redirected to `/ops/`). Listed here for the OpenAPI
 * document, under the name of its operation.
 */
export const OPS_PATH = "/ops";

export const OPS_ROUTES = {
	"GET /": "api.ops",
} as const satisfies Record<string, RoutedAction>;

export const ADMIN_ROUTES = {
	"GET /dead-letters": "api.deadLetters",
	"POST /dead-letters/:id/retry": "api.retryDeadLetter",
	"PUT /dead-letters/:id": "api.editDeadLetter",
	"POST /dead-letters/retry": "api.retryDeadLetters",
	"POST /dead-letters/discard": "api.discardDeadLetters",
	"GET /consumers": "api.consumers",
	"POST /consumers/:consumer/pause": "api.pauseConsumer",
	"POST /consumers/:consumer/resume": "api.resumeConsumer",
	"POST /rebuild/:consumer": "api.rebuild",
	"GET /rebuild/:consumer": "api.rebuildState",
} as const satisfies Record<string, RoutedAction>;
