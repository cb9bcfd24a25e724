/**
 * The gateway's static files: the folder web/ (web/ops/: the operations page, `GET /ops/`),
 * served as they are by moleculer-web's static server (its `assets` setting, serve-static) for
 * any request no route takes, URL path = path under web/. Files only: no directory listing, no
 * dotfile; a path that is no file is the gateway's JSON 404, and a folder asked for without its
 * trailing slash (`/ops`) is redirected to it (`/ops/`) so that the page's relative URLs resolve.
 * serve-static answers GET and HEAD (same headers, no body); any other method falls through to
 * the 404 (the method gate has no route for these paths).
 *
 * Every file is sent with WEB_HEADERS. The pages hold the admin token a person types in: their
 * Content-Security-Policy lets them run scripts and styles from this origin only (their own
 * files; no inline script or style, no inline event handler, no eval), fetch from this origin
 * only, load nothing else, and be framed by no one.
 */
import type { ServerResponse } from "node:http";
import type { AssetsConfig } from "moleculer-web";

export const WEB_CSP = [
	"default-src 'none'",
	"script-src 'self'",
	"style-src 'self'",
	"connect-src 'self'",
	"img-src data:",
	"base-uri 'none'",
	"form-action 'none'",
	"frame-ancestors 'none'",
].join("; ");

/** The headers every file of web/ is sent with (serve-static adds its type, length, ETag and Last-Modified). */
export const WEB_HEADERS: Readonly<Record<string, string>> = {
	"Content-Security-Policy": WEB_CSP,
	// a script or style is run only with its own type: nothing else of this origin passes for one
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy": "no-referrer",
	// they change with the program only, but hold nothing worth a stale copy: revalidated (ETag) each time
	"Cache-Control": "no-cache",
};

/** moleculer-web's `assets` setting for the folder `webRoot` (web/ in the sources, dist/web once built). */
export function webAssets(webRoot: string): AssetsConfig {
	return {
		folder: webRoot,
		options: {
			index: ["index.html"],
			dotfiles: "ignore",
			// our Cache-Control, not serve-static's `public, max-age=0`
			cacheControl: false,
			setHeaders(res: ServerResponse) {
				for (const [name, value] of Object.entries(WEB_HEADERS)) res.setHeader(name, value);
			},
		},
	};
}
