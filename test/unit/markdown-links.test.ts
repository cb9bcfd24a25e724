/**
 * The documentation points at what exists: in every Markdown file of the repository, each
 * relative link names a file or folder that is there (and a heading that is there, for a
 * `#anchor`), and each code span that names a repository path (`lib/relay/log-relay.ts`,
 * `services/`, `unit/decide`) names one that exists. The README stays a front page (at most 250
 * lines) that lists every topic document, and no topic document grows past ~400 lines.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
	brokenLink,
	headingAnchor,
	isExternal,
	markdownFiles,
	namedPath,
	parseMarkdown,
	pathExists,
	ROOT,
	readMarkdown,
	topFolders,
} from "../helpers/markdown";

const README_MAX_LINES = 250;
const TOPIC_MAX_LINES = 420;

const files = markdownFiles();
const folders = topFolders();

test("the walk finds the README, the topic documents and nothing installed or built", () => {
	expect(files).toContain("README.md");
	expect(files.filter((file) => file.startsWith("docs/")).length).toBeGreaterThanOrEqual(12);
	expect(files.filter((file) => /(^|\/)(node_modules|dist)\//.test(file))).toEqual([]);
});

test("every relative link of every Markdown file names a file or folder that exists, and its #anchor a heading there", () => {
	const broken: string[] = [];
	let checked = 0;
	for (const file of files) {
		for (const link of readMarkdown(file).links) {
			if (isExternal(link.target)) continue;
			checked++;
			const problem = brokenLink(file, link.target);
			if (problem) broken.push(`${file}:${link.line}: ${problem}`);
		}
	}
	expect(broken).toEqual([]);
	expect(checked).toBeGreaterThan(50);
});

test("every code span that names a repository path names one that exists", () => {
	const missing: string[] = [];
	let checked = 0;
	for (const file of files) {
		for (const span of readMarkdown(file).codeSpans) {
			const named = namedPath(span.text, folders);
			if (named === null) continue;
			checked++;
			if (!pathExists(named)) missing.push(`${file}:${span.line}: \`${span.text}\` (${named})`);
		}
	}
	expect(missing).toEqual([]);
	expect(checked).toBeGreaterThan(100);
});

test(`README.md is at most ${README_MAX_LINES} lines, each docs/*.md at most ${TOPIC_MAX_LINES}`, () => {
	const lengths = Object.fromEntries(
		files.filter((file) => file === "README.md" || /^docs\/[^/]+\.md$/.test(file)).map((file) => [file, readMarkdown(file).lineCount]),
	);
	expect(lengths["README.md"]).toBeLessThanOrEqual(README_MAX_LINES);
	const tooLong = Object.entries(lengths).filter(([file, lines]) => file !== "README.md" && lines > TOPIC_MAX_LINES);
	expect(tooLong).toEqual([]);
});

test("the README links every topic document in docs/, and every diagram it shows to the document that explains it", () => {
	const readme = readMarkdown("README.md");
	const linked = new Set(readme.links.map((link) => link.target.split("#")[0]));
	const topics = files.filter((file) => /^docs\/[^/]+\.md$/.test(file));
	expect(topics.filter((topic) => !linked.has(topic))).toEqual([]);

	const lines = readFileSync(path.join(ROOT, "README.md"), "utf8").split("\n");
	for (const diagram of readme.mermaid) {
		// the three lines after the diagram's closing fence
		const close = lines.findIndex((text, index) => index >= diagram.line && /^ {0,3}```\s*$/.test(text));
		const after = lines.slice(close + 1, close + 4).join(" ");
		expect({ diagramAtLine: diagram.line, linksToDocs: /\]\(docs\/[^)]+\.md/.test(after) }).toEqual({ diagramAtLine: diagram.line, linksToDocs: true });
	}
	expect(readme.mermaid.length).toBeGreaterThanOrEqual(1);
});

describe("the checks themselves", () => {
	test("headings make GitHub's anchors, duplicates numbered", () => {
		expect(headingAnchor("Readiness: `/api/ready`")).toBe("readiness-apiready");
		expect(headingAnchor("Neighbours: another team's Moleculer nodes")).toBe("neighbours-another-teams-moleculer-nodes");
		expect(headingAnchor("Fault injection (tests only)")).toBe("fault-injection-tests-only");
		expect(headingAnchor("The `event_log` **table**")).toBe("the-event_log-table");
		expect([...parseMarkdown("# A\n\n## A\n\n```sh\n# not a heading\n```\n").anchors]).toEqual(["a", "a-1"]);
	});

	test("links and code spans inside code blocks and code spans are not read; diagrams are", () => {
		const parsed = parseMarkdown(
			[
				"See [x](docs/x.md#y) and `lib/a.ts`.",
				"```",
				"[no](link.md) `lib/b.ts`",
				"```",
				"`[not](a-link.md)`",
				"```mermaid",
				"flowchart LR",
				"  a --> b",
				"```",
			].join("\n"),
		);
		expect(parsed.links).toEqual([{ line: 1, target: "docs/x.md#y" }]);
		expect(parsed.codeSpans.map((span) => span.text)).toEqual(["lib/a.ts", "[not](a-link.md)"]);
		expect(parsed.mermaid).toEqual([{ line: 6, source: "flowchart LR\n  a --> b" }]);
	});

	test("a broken link, a missing anchor and a missing path are caught", () => {
		const root = mkdtempSync(path.join(os.tmpdir(), "cg-md-"));
		try {
			mkdirSync(path.join(root, "docs"));
			mkdirSync(path.join(root, "lib"));
			writeFileSync(path.join(root, "lib", "a.ts"), "");
			writeFileSync(path.join(root, "docs", "x.md"), "# Title\n\n## Part one\n");
			writeFileSync(path.join(root, "README.md"), "[ok](docs/x.md#part-one)\n");
			expect(brokenLink("README.md", "docs/x.md#part-one", root)).toBeNull();
			expect(brokenLink("README.md", "docs/x.md", root)).toBeNull();
			expect(brokenLink("docs/x.md", "#title", root)).toBeNull();
			expect(brokenLink("docs/x.md", "../README.md", root)).toBeNull();
			expect(brokenLink("README.md", "docs/y.md", root)).toMatch(/no such file/);
			expect(brokenLink("README.md", "docs/x.md#part-two", root)).toMatch(/no heading/);
			expect(brokenLink("docs/x.md", "../../etc/passwd", root)).toMatch(/outside/);

			const rootFolders = topFolders(root);
			expect(namedPath("lib/a.ts", rootFolders)).toBe("lib/a.ts");
			expect(namedPath("unit/decide", rootFolders)).toBe("test/unit/decide.test.ts");
			expect(namedPath("amqp://guest:***@host", rootFolders)).toBeNull();
			expect(namedPath("client.*", rootFolders)).toBeNull();
			expect(namedPath("node dist/bin/start.js", rootFolders)).toBeNull();
			expect(namedPath("a.ts", rootFolders)).toBe("**/a.ts");
			expect(pathExists("**/a.ts", root)).toBe(true);
			expect(pathExists("**/b.ts", root)).toBe(false);
			expect(pathExists("lib/a.ts", root)).toBe(true);
			expect(pathExists("lib/", root)).toBe(true);
			expect(pathExists("lib/<name>.ts", root)).toBe(true);
			expect(pathExists("lib/b.ts", root)).toBe(false);
			expect(pathExists("lib/a.ts/", root)).toBe(false);
			expect(pathExists("lib/<name>.js", root)).toBe(false);
		} finally {
			rmSync(root, { recursive: true, force: true });
		}
	});
});
