/**
 * Every ```mermaid block of the repository's Markdown renders in Chromium with the Mermaid
 * release in package.json (what GitHub and a reader's editor draw from the same text). A block
 * that does not parse fails the test, named by file and line. And the check can fail: a broken
 * diagram is refused by the same function.
 */
import type { Browser, Page } from "playwright-core";
import { describeWithBrowser, launchBrowser } from "../helpers/browser";
import { markdownFiles, readMarkdown } from "../helpers/markdown";
import { mermaidPage, renderMermaid } from "../helpers/mermaid";

const diagrams = markdownFiles().flatMap((file) => readMarkdown(file).mermaid.map((diagram) => ({ file, ...diagram })));

describeWithBrowser("Mermaid diagrams in the documentation", () => {
	let browser: Browser;
	let page: Page;

	beforeAll(async () => {
		browser = await launchBrowser();
		page = await mermaidPage(browser);
	});

	afterAll(async () => {
		await browser?.close();
	});

	test("the documentation has its diagrams: components in the README, a write, a catch-up and a rolling restart in docs/", () => {
		const files = new Set(diagrams.map((diagram) => diagram.file));
		expect([...files]).toEqual(expect.arrayContaining(["README.md", "docs/consistency-and-events.md", "docs/cluster-and-deployment.md"]));
		expect(diagrams.length).toBeGreaterThanOrEqual(5);
	});

	test("every diagram parses and renders", async () => {
		const failed: string[] = [];
		for (const [index, diagram] of diagrams.entries()) {
			const rendering = await renderMermaid(page, `diagram-${index}`, diagram.source);
			if (!rendering.ok) failed.push(`${diagram.file}:${diagram.line}: ${rendering.error}`);
		}
		expect(failed).toEqual([]);
	});

	test("a broken diagram is refused by the same function, a sound one drawn", async () => {
		const broken = await renderMermaid(page, "broken-flowchart", "flowchart LR\n  a[A] --> b[B\n  c -->");
		expect(broken).toEqual({ ok: false, error: expect.stringMatching(/Parse error/) });
		const brokenSequence = await renderMermaid(page, "broken-sequence", "sequenceDiagram\n  A->>: no receiver");
		expect(brokenSequence.ok).toBe(false);
		const unknown = await renderMermaid(page, "unknown-type", "notADiagram\n  a --> b");
		expect(unknown.ok).toBe(false);
		expect(await renderMermaid(page, "sound", "sequenceDiagram\n  A->>B: hello")).toEqual({ ok: true, svgLength: expect.any(Number) });
	});
});
