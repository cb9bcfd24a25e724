/**
 * The repository's Markdown as the documentation tests read it: every `.md` file outside
 * node_modules, dist and other generated or hidden folders, and in each its headings (as GitHub's
 * anchors), its relative links, the code spans that name a file of the repository, and its
 * Mermaid diagrams. Pure parsing plus a directory walk: no network, no Markdown library.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "../..");

/** Folders never walked: installed, built, run-time or hidden ones (.git, .ci has no Markdown). */
const SKIPPED = new Set(["node_modules", "dist", "data", "coverage"]);

function skipped(name: string): boolean {
	return SKIPPED.has(name) || name.startsWith(".");
}

/** Every Markdown file of the repository, as paths relative to its root, sorted. */
export function markdownFiles(root: string = ROOT): string[] {
	const found: string[] = [];
	const walk = (dir: string) => {
		for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
			if (skipped(entry.name)) continue;
			const relative = dir ? `${dir}/${entry.name}` : entry.name;
			if (entry.isDirectory()) walk(relative);
			else if (entry.name.endsWith(".md")) found.push(relative);
		}
	};
	walk("");
	return found.sort();
}

/** Something found on a line of a Markdown file (1-based). */
export interface Located {
	line: number;
}

export interface Link extends Located {
	/** the target as written: `docs/x.md#anchor`, `#anchor`, `../README.md` */
	target: string;
}

export interface CodeSpan extends Located {
	text: string;
}

export interface Diagram extends Located {
	/** the block's text, without its fences */
	source: string;
}

export interface ParsedMarkdown {
	/** GitHub's anchors of the file's headings, duplicates numbered as GitHub numbers them */
	anchors: Set<string>;
	links: Link[];
	codeSpans: CodeSpan[];
	mermaid: Diagram[];
	lineCount: number;
}

/** A fence opens a code block: three or more backticks or tildes, and an info string. */
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const CODE_SPAN = /(`+)(.+?)\1/g;
/** `[text](target)` and `![alt](target)`, with an optional title; the text holds no `]` */
const LINK = /!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;

/**
 * A heading's anchor as GitHub makes it: the rendered text (code spans, links and emphasis
 * reduced to their text) lower-cased, every character that is not a letter, digit, mark,
 * connector (`_`), hyphen or space removed, spaces made hyphens.
 */
export function headingAnchor(heading: string): string {
	const text = heading
		.replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
		.replace(/`/g, "")
		.replace(/(\*\*|\*)(.+?)\1/g, "$2");
	return text
		.toLowerCase()
		.replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
		.replace(/ /g, "-");
}

export function parseMarkdown(text: string): ParsedMarkdown {
	const lines = text.split("\n");
	const anchors = new Set<string>();
	const seen = new Map<string, number>();
	const links: Link[] = [];
	const codeSpans: CodeSpan[] = [];
	const mermaid: Diagram[] = [];
	let fence: { marker: string; info: string; line: number; body: string[] } | null = null;

	lines.forEach((raw, index) => {
		const line = index + 1;
		const opening = FENCE.exec(raw);
		if (fence) {
			if (opening && opening[1][0] === fence.marker[0] && opening[1].length >= fence.marker.length && opening[2] === "") {
				if (fence.info === "mermaid") mermaid.push({ line: fence.line, source: fence.body.join("\n") });
				fence = null;
			} else {
				fence.body.push(raw);
			}
			return;
		}
		if (opening) {
			fence = { marker: opening[1], info: opening[2], line, body: [] };
			return;
		}
		const heading = HEADING.exec(raw);
		if (heading) {
			const base = headingAnchor(heading[2]);
			const count = seen.get(base) ?? 0;
			seen.set(base, count + 1);
			anchors.add(count === 0 ? base : `${base}-${count}`);
		}
		// code spans first: what they hold is text, never a link
		const prose = raw.replace(CODE_SPAN, (_, _ticks: string, inner: string) => {
			codeSpans.push({ line, text: inner.trim() });
			return "code";
		});
		for (const match of prose.matchAll(LINK)) links.push({ line, target: match[1] });
	});
	if (fence !== null) {
		const open: { line: number } = fence;
		throw new Error(`a code block opened on line ${open.line} is never closed`);
	}
	return { anchors, links, codeSpans, mermaid, lineCount: text.endsWith("\n") ? lines.length - 1 : lines.length };
}

export function readMarkdown(file: string, root: string = ROOT): ParsedMarkdown {
	return parseMarkdown(readFileSync(path.join(root, file), "utf8"));
}

/** A link to the outside world (`https:`, `mailto:`): not checked here. */
export function isExternal(target: string): boolean {
	return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/**
 * What is wrong with a relative link from `file` (a path relative to the root), or null:
 * its file or folder must exist, and its `#anchor` must be a heading of the Markdown it names.
 */
export function brokenLink(
	file: string,
	target: string,
	root: string = ROOT,
	parse: (file: string) => ParsedMarkdown = (f) => readMarkdown(f, root),
): string | null {
	const [pathPart, anchor] = target.split("#", 2) as [string, string | undefined];
	const resolved = pathPart === "" ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURI(pathPart)));
	if (resolved.startsWith("..")) return `${target}: outside the repository`;
	if (!existsSync(path.join(root, resolved))) return `${target}: no such file or folder (${resolved})`;
	if (anchor === undefined || anchor === "") return null;
	if (!resolved.endsWith(".md")) return `${target}: an anchor into a file that is not Markdown`;
	return parse(resolved).anchors.has(anchor) ? null : `${target}: no heading with anchor #${anchor} in ${resolved}`;
}

/** The folders at the repository's root that code spans may name (`lib/`, `test/`, `.ci/`, …). */
export function topFolders(root: string = ROOT): Set<string> {
	return new Set(
		readdirSync(root, { withFileTypes: true })
			.filter((entry) => entry.isDirectory() && !SKIPPED.has(entry.name) && entry.name !== ".git")
			.map((entry) => entry.name),
	);
}

/** A jest suite named short, as the documents do: `unit/decide`, `cluster/rolling-restart`. */
const SUITE = /^(unit|integration|cluster)\/[\w.-]+$/;
/** A source or data file named alone (`decide.ts`, `moleculer.config.ts`): it must exist somewhere. */
const FILE_NAME = /^[\w-]+(\.[\w-]+)*\.(ts|js|mjs|cjs|json|jsonc|yml|yaml|md|sh|sql|sqlite|png)$/;
/** The prefix of a pattern that names a file by its name alone, in any folder. */
const ANYWHERE = "**/";
/** What a path may hold; `<placeholder>` stands for one name, `*` for any part of one. */
const PATH_TEXT = /^[\w.@<>*-]+(\/[\w.@<>*-]*)*$/;

/**
 * The repository path a code span names, as a pattern to find, or null when it names none: a
 * path under a root folder (`lib/relay/log-relay.ts`, `services/`, `bench/run.ts`), a suite
 * named short (`unit/decide` is `test/unit/decide.test.ts`), or a file named alone
 * (`moleculer.config.ts`, `decide.ts`: in any folder). A placeholder (`<NNN>`,
 * `*`) must match at least one name.
 */
export function namedPath(span: string, folders: ReadonlySet<string>): string | null {
	if (SUITE.test(span)) return `test/${span}.test.ts`;
	if (FILE_NAME.test(span)) return `${ANYWHERE}${span}`;
	if (!PATH_TEXT.test(span) || !span.includes("/")) return null;
	return folders.has(span.split("/")[0]) ? span : null;
}

/** Whether the repository holds what `pattern` names (a file, or a folder when it ends in `/`). */
export function pathExists(pattern: string, root: string = ROOT): boolean {
	if (pattern.startsWith(ANYWHERE)) return fileNames(root).has(pattern.slice(ANYWHERE.length));
	const parts = pattern.replace(/\/$/, "").split("/");
	const wantsFolder = pattern.endsWith("/");
	const match = (dir: string, index: number): boolean => {
		const part = parts[index];
		const last = index === parts.length - 1;
		const candidates = /[<*]/.test(part) ? listed(dir).filter((name) => patternOf(part).test(name)) : [part];
		return candidates.some((name) => {
			const full = path.join(dir, name);
			if (!existsSync(full)) return false;
			const folder = statSync(full).isDirectory();
			if (last) return wantsFolder ? folder : true;
			return folder && match(full, index + 1);
		});
	};
	return match(root, 0);
}

/** The names of every file of the repository (outside the walked-past folders), by root. */
const namesByRoot = new Map<string, Set<string>>();

function fileNames(root: string): Set<string> {
	let names = namesByRoot.get(root);
	if (names) return names;
	names = new Set<string>();
	const found = names;
	const walk = (dir: string) => {
		for (const entry of readdirSync(dir, { withFileTypes: true })) {
			if (SKIPPED.has(entry.name) || entry.name === ".git") continue;
			if (entry.isDirectory()) walk(path.join(dir, entry.name));
			else found.add(entry.name);
		}
	};
	walk(root);
	namesByRoot.set(root, names);
	return names;
}

function listed(dir: string): string[] {
	return existsSync(dir) && statSync(dir).isDirectory() ? readdirSync(dir) : [];
}

function patternOf(part: string): RegExp {
	const escaped = part
		.split(/(<[^>]*>|\*)/)
		.map((piece) => (piece === "*" ? ".*" : piece.startsWith("<") ? ".+" : piece.replace(/[.+?^${}()|[\]\\]/g, "\\$&")))
		.join("");
	return new RegExp(`^${escaped}$`);
}
