/**
 * The metric names a PromQL expression reads, and the label matchers it puts on each, for checking
 * a Grafana dashboard against what the nodes export (test/cluster/dashboard-metrics.test.ts). A
 * small tokenizer, not a PromQL parser: it knows which words are not metric names (functions and
 * aggregations, followed by "(" or by a by/without clause; keywords; label names inside `{…}` and
 * in by/without/on/ignoring/group_* lists; strings; durations and Grafana variables inside `[…]`),
 * and that everything else in selector position is one. A metric named by a Grafana variable
 * (`$metric`) cannot be known and is not returned.
 */

/** A series name as the query writes it, and the metric family it belongs to. */
export interface MetricRef {
	/** the name in the query, e.g. `cg_events_propagation_bucket` */
	series: string;
	/** the family a histogram's or summary's `_bucket`, `_sum` and `_count` series belong to, else the name itself */
	family: string;
}

/** Words that are never a metric name: binary operators, modifiers, special numbers. */
const KEYWORDS = new Set(["and", "or", "unless", "atan2", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"]);
/** Keywords followed by a parenthesised list of label names, not of expressions. */
const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const FAMILY_SUFFIX = /_(bucket|sum|count)$/;

/** One label matcher of a selector: `label="value"`, `!=`, `=~` (anchored regex) or `!~`. */
export interface LabelMatcher {
	label: string;
	op: "=" | "!=" | "=~" | "!~";
	value: string;
}

/** One vector selector: the series it names and the label matchers it puts on it. */
export interface Selector extends MetricRef {
	matchers: LabelMatcher[];
}

const MATCH_OPS = new Set(["=", "!=", "=~", "!~"]);

type Token = { kind: "ident" | "string" | "number" | "variable" | "punct" | "op"; text: string };

/** The name a `_bucket`, `_sum` or `_count` series belongs to (`x_bucket` → `x`). */
export function metricFamily(series: string): string {
	return series.replace(FAMILY_SUFFIX, "");
}

function tokenize(expr: string): Token[] {
	const tokens: Token[] = [];
	const patterns: Array<[Token["kind"] | "skip", RegExp]> = [
		["skip", /^\s+/],
		["skip", /^#[^\n]*/], // a PromQL comment
		["string", /^"(?:[^"\\]|\\.)*"|^'(?:[^'\\]|\\.)*'|^`[^`]*`/],
		["variable", /^\$\{[^}]*\}|^\$\w+|^\[\[\w+(?::\w+)?\]\]/], // Grafana: ${var}, $var, $__rate_interval, [[var]]
		["number", /^(?:0x[0-9a-f]+|[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?(?:(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*)?)/i],
		["ident", /^[a-zA-Z_:][a-zA-Z0-9_:]*/],
		["op", /^(?:==|!=|=~|!~|>=|<=|[-+*/%^=<>@])/],
		["punct", /^[{}()[\],]/],
	];
	let rest = expr;
	while (rest.length > 0) {
		const match = patterns.map(([kind, pattern]) => [kind, pattern.exec(rest)?.[0]] as const).find(([, text]) => text);
		if (!match?.[1]) throw new Error(`cannot read PromQL at: ${rest.slice(0, 40)}`);
		const [kind, text] = match;
		if (kind !== "skip") tokens.push({ kind, text });
		rest = rest.slice(text.length);
	}
	const open: string[] = [];
	const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
	for (const { kind, text } of tokens) {
		if (kind !== "punct" || text === ",") continue;
		if (!(text in pairs)) open.push(text);
		else if (open.pop() !== pairs[text]) throw new Error(`unbalanced ${text} in PromQL`);
	}
	if (open.length > 0) throw new Error(`unbalanced ${open[open.length - 1]} in PromQL`);
	return tokens;
}

/** Index of the token that closes the bracket opened at `open`. */
function closing(tokens: Token[], open: number): number {
	const pairs: Record<string, string> = { "(": ")", "[": "]", "{": "}" };
	const want = pairs[tokens[open].text];
	let depth = 0;
	for (let i = open; i < tokens.length; i++) {
		if (tokens[i].text === tokens[open].text) depth++;
		else if (tokens[i].text === want && --depth === 0) return i;
	}
	throw new Error(`unbalanced ${tokens[open].text} in PromQL`);
}

/** The text of a PromQL string literal ("…", '…' with Go escapes; `…` raw). */
function stringValue(literal: string): string {
	if (literal.startsWith("`")) return literal.slice(1, -1);
	return literal.slice(1, -1).replace(/\\(.)/g, (_, char: string) => ({ n: "\n", t: "\t" })[char] ?? char);
}

/** The matchers of a `{…}` block from `open` to `end`, and the name a `__name__="x"` matcher gives. */
function matchersIn(tokens: Token[], open: number, end: number): { name?: string; matchers: LabelMatcher[] } {
	const matchers: LabelMatcher[] = [];
	let name: string | undefined;
	for (let j = open + 1; j + 2 < end; j++) {
		const [label, op, value] = [tokens[j], tokens[j + 1], tokens[j + 2]];
		if (label.kind !== "ident" || op.kind !== "op" || !MATCH_OPS.has(op.text) || value.kind !== "string") continue;
		if (label.text === "__name__" && op.text === "=") name = stringValue(value.text);
		else matchers.push({ label: label.text, op: op.text as LabelMatcher["op"], value: stringValue(value.text) });
		j += 2;
	}
	return { name, matchers };
}

/** Every vector selector of one PromQL expression, in order, with its label matchers. */
export function selectors(expr: string): Selector[] {
	const tokens = tokenize(expr);
	const found: Selector[] = [];
	const add = (series: string, matchers: LabelMatcher[]) => found.push({ series, family: metricFamily(series), matchers });
	for (let i = 0; i < tokens.length; i++) {
		const token = tokens[i];
		const next = tokens[i + 1];
		if (token.text === "{") {
			// a selector without a name before it: only `__name__="x"` names its metric
			const end = closing(tokens, i);
			const { name, matchers } = matchersIn(tokens, i, end);
			if (name) add(name, matchers);
			i = end;
		} else if (token.text === "[") {
			i = closing(tokens, i); // a range or subquery: durations and variables
		} else if (token.kind === "ident") {
			const word = token.text.toLowerCase();
			// by/without/on/ignoring/group_*: a list of label names follows
			if (LABEL_LIST_KEYWORDS.has(word) && next?.text === "(") i = closing(tokens, i + 1);
			// not a metric: a keyword, a function or an aggregation (`f(…)`), or an aggregation before its clause (`sum by (…) (…)`)
			else if (KEYWORDS.has(word) || next?.text === "(" || LABEL_LIST_KEYWORDS.has(next?.text.toLowerCase() ?? "")) continue;
			else if (next?.text === "{") {
				const end = closing(tokens, i + 1);
				add(token.text, matchersIn(tokens, i + 1, end).matchers);
				i = end;
			} else add(token.text, []);
		}
	}
	return found;
}

/** The metric names one PromQL expression selects, each once, in the order they first appear. */
export function metricNames(expr: string): MetricRef[] {
	return [...new Set(selectors(expr).map((selector) => selector.series))].map((series) => ({ series, family: metricFamily(series) }));
}

/** Whether a series' labels satisfy a selector's matchers (regexes anchored, as PromQL's are). */
export function matches(labels: Record<string, string>, matchers: LabelMatcher[]): boolean {
	return matchers.every(({ label, op, value }) => {
		const actual = labels[label] ?? "";
		if (op === "=") return actual === value;
		if (op === "!=") return actual !== value;
		const full = new RegExp(`^(?:${value})$`).test(actual);
		return op === "=~" ? full : !full;
	});
}
