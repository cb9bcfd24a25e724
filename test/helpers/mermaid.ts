/**
 * Mermaid diagrams rendered as a reader's browser renders them: the `mermaid` package's own
 * bundle (node_modules/mermaid/dist/mermaid.min.js, loaded from disk into a blank page: no
 * network) in headless Chromium. A diagram that does not parse, or renders no drawing, is
 * refused with Mermaid's own words.
 */
import type { Browser, Page } from "playwright-core";

export const MERMAID_BUNDLE = require.resolve("mermaid/dist/mermaid.min.js");

export type Rendering = { ok: true; svgLength: number } | { ok: false; error: string };

/** A blank page with Mermaid loaded and initialised (no diagram rendered on load). */
export async function mermaidPage(browser: Browser): Promise<Page> {
	const page = await browser.newPage();
	await page.setContent("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>");
	await page.addScriptTag({ path: MERMAID_BUNDLE });
	await page.evaluate(() => {
		const mermaid = (globalThis as unknown as { mermaid: { initialize(config: object): void } }).mermaid;
		mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
	});
	return page;
}

/** Parse and render one diagram's text on a Mermaid page; `id` must be unique on the page. */
export function renderMermaid(page: Page, id: string, source: string): Promise<Rendering> {
	return page.evaluate(
		async ({ id, source }): Promise<Rendering> => {
			const mermaid = (
				globalThis as unknown as {
					mermaid: { parse(text: string): Promise<unknown>; render(id: string, text: string): Promise<{ svg: string }> };
				}
			).mermaid;
			try {
				await mermaid.parse(source);
				const { svg } = await mermaid.render(id, source);
				// a diagram Mermaid could not draw comes back as its "Syntax error" picture
				if (!svg.startsWith("<svg") || /Syntax error in text/.test(svg)) return { ok: false, error: "rendered as Mermaid's error picture" };
				return { ok: true, svgLength: svg.length };
			} catch (err) {
				return { ok: false, error: String((err as Error)?.message ?? err) };
			}
		},
		{ id, source },
	);
}
