/**
 * The operations page's script (GET /ops/, web/ops/index.html loads it as a module). It reads the
 * public `GET /api/ready` every 2 s (nodes and the services on each, queues with depth and
 * consumers, each consumer's lag, pending retries and dead letters, each producer's relay to the
 * AMQP stream and its lag), draws the producers' event throughput from the change of their log
 * heads between answers, and says when a node or a queue that was there goes away and when the
 * gateway cannot be reached. With the admin token the person types in (kept in sessionStorage,
 * this tab only, never in localStorage or a cookie) it operates the consumers through the admin
 * API: dead letters filtered and paged, edited before replay, retried or discarded one at a time
 * or all a filter selects, and consumers paused and resumed.
 *
 * The page is built with the DOM (textContent, never innerHTML): a dead letter's error text or
 * payload is shown as text, whatever it holds. URLs are relative to the page, so it works under
 * whatever prefix a proxy puts the gateway.
 *
 * Plain JavaScript, served as it is (no build step between this file and the browser), checked
 * by tsc against the DOM's types through its JSDoc (tsconfig.web.json, `npm run typecheck`).
 */

/**
 * What the gateway answers, as far as the page reads it (CONTRACT.md, `/api/ready`). The answer
 * is JSON from the network: these types are what the page expects, checked where it matters.
 * @typedef {{ status: string, components: Record<string, unknown> }} Readiness
 * @typedef {{ services?: unknown, local?: unknown }} NodeReport
 * @typedef {{ messages?: number | null, consumers?: number, paused?: boolean }} QueueReport
 * @typedef {{ nodes?: number, status?: string }} ServiceReport
 * @typedef {{ producer?: string, head?: number, checkpoint?: number, lag?: number, pendingRetries?: number, deadLetters?: number, reported?: string, queues?: unknown, state?: string, reason?: string | null, since?: string | null }} ConsumerReport
 * @typedef {{ producer?: string, head?: number, checkpoint?: number, lag?: number, reported?: string }} RelayReport
 * @typedef {{ status?: unknown, type?: unknown, enabled?: unknown }} ComponentReport
 * @typedef {{ id: string, consumer?: string, attempts?: number, lastError?: string, failedAt?: string, event?: unknown, state?: string, original?: unknown, edited?: { at?: string, by?: string } }} DeadLetter
 * @typedef {{ rows: DeadLetter[], total: number, page?: number, totalPages?: number }} DeadLetterPage
 * @typedef {{ consumer?: string, state?: string, reason?: string | null, since?: string | null }} ConsumerPause
 */

/**
 * Which dead letters are listed, as the list route's query takes them (CONTRACT.md,
 * `GET /api/admin/dead-letters`): every key optional, `from` and `to` ISO times.
 * @typedef {{ consumer?: string, eventType?: string, entityId?: number, error?: string, from?: string, to?: string, state?: string }} Filter
 */

/**
 * What the page remembers between answers.
 * @typedef {{ services: string[], local: boolean }} KnownNode
 * @typedef {{ consumer: string, messages: number | null | undefined, consumers: number | undefined, paused: boolean }} KnownQueue
 * @typedef {{ t: number, heads: Record<string, number> }} Sample
 * @typedef {{ text: string, kind: string }} Change
 */

const REFRESH_MS = 2000;
const WINDOW_MS = 120000;
const TIMEOUT_MS = 5000;
const GONE_KEPT_MS = 600000;
const TOKEN_KEY = "ops.adminToken";
/** dead letters a page of the list */
const DL_PAGE_SIZE = 25;
const COLORS = ["#0969da", "#bc4c00", "#8250df", "#1a7f37"];
// the API beside this page, under the same prefix: /ops/ reads /api/
const API = `${location.pathname.replace(/ops\/?$/, "")}api/`;

const state = {
	/** @type {Map<string, KnownNode & { goneSince: Date | null }>} */
	nodes: new Map(),
	/** @type {Map<string, KnownQueue & { goneSince: Date | null }>} */
	queues: new Map(),
	/** @type {Sample[]} */
	samples: [],
	/** @type {Change[]} */
	changes: [],
	/** @type {Date | null} */
	unreachableSince: null,
	/** @type {Date | null} */
	lastAnswerAt: null,
	/** @type {string | null} */
	pendingRetry: null,
	/** @type {ReturnType<typeof setTimeout> | undefined} the next refresh */
	timer: undefined,
	refreshing: false,
	refreshAgain: false,
	/** @type {Filter} the filter the list shows (applied with its form's button) */
	filter: {},
	/** the page of the list shown */
	page: 1,
	/** the list's last answer, as text: the table is built again only when it changes (an open event stays open) */
	shownList: "",
	/** each load of the list counts up: an answer to an earlier one (another filter, another page) is dropped */
	listTicket: 0,
	/** @type {{ total: number, filter: Filter } | null} how many dead letters the filter shown selects, as the list last said */
	listed: null,
	/** @type {string | null} the dead letter whose event is open for editing: the list is not rebuilt meanwhile */
	editing: null,
	/** @type {{ action: "retry" | "discard", filter: Filter, count: number } | null} a bulk call waiting for its confirmation */
	bulk: null,
	/** @type {string | null} the consumer the pause form is for */
	pausing: null,
};

/**
 * An element of the page; one that is not there is a fault of the page itself.
 * @param {string} id
 * @returns {HTMLElement}
 */
function $(id) {
	const node = document.getElementById(id);
	if (!node) throw new Error(`the page has no #${id}`);
	return node;
}

/** @param {number} n */
function pad(n) {
	return n < 10 ? `0${n}` : String(n);
}

/** @param {Date} date */
function hms(date) {
	return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/**
 * An ISO time as the page shows it: the time of day when it is today, else the date too (local time).
 * @param {string} iso
 */
function when(iso) {
	const date = new Date(iso);
	if (Number.isNaN(date.getTime())) return iso;
	const today = new Date();
	const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
	const sameDay = date.getFullYear() === today.getFullYear() && date.getMonth() === today.getMonth() && date.getDate() === today.getDate();
	return sameDay ? hms(date) : `${day} ${hms(date)}`;
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isObject(value) {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** @param {unknown} value */
function show(value) {
	return value === null || value === undefined ? "–" : String(value);
}

/**
 * The entries of a component: every key but its status (and a masked message) whose value is an
 * object, taken for the report the contract says it is.
 * @template T
 * @param {unknown} component
 * @returns {Array<[string, T]>}
 */
function entries(component) {
	if (!isObject(component)) return [];
	return Object.keys(component)
		.filter((key) => key !== "status" && key !== "message" && isObject(component[key]))
		.map((key) => [key, /** @type {T} */ (component[key])]);
}

/**
 * @param {string} tag
 * @param {{ text?: string, className?: string, attrs?: Record<string, string> }} [options]
 * @param {Node[]} [children]
 * @returns {HTMLElement}
 */
function el(tag, options = {}, children = []) {
	const node = document.createElement(tag);
	if (options.text !== undefined) node.textContent = options.text;
	if (options.className) node.className = options.className;
	for (const [name, value] of Object.entries(options.attrs ?? {})) node.setAttribute(name, value);
	for (const child of children) node.appendChild(child);
	return node;
}

/**
 * @param {unknown} text
 * @param {string} [className]
 */
function cell(text, className) {
	return el("td", { text: show(text), className });
}

/**
 * A button that does `onClick`; `label` is its accessible name when its text alone would not say what it acts on.
 * @param {string} text
 * @param {string} label
 * @param {(button: HTMLButtonElement) => void} onClick
 * @returns {HTMLButtonElement}
 */
function button(text, label, onClick) {
	const node = /** @type {HTMLButtonElement} */ (el("button", { text, attrs: { type: "button", "aria-label": label } }));
	node.addEventListener("click", () => onClick(node));
	return node;
}

/**
 * @param {HTMLElement} tbody
 * @param {HTMLElement[]} rows
 * @param {string} emptyText
 * @param {number} columns
 */
function fill(tbody, rows, emptyText, columns) {
	tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, [el("td", { text: emptyText, className: "muted", attrs: { colspan: String(columns) } })])]));
}

/**
 * DEGRADED: the gateway serves, some routes answer 503 (a routed service has no live node).
 * @param {string} status
 */
function statusSpan(status) {
	return el("span", { text: status, className: status === "UP" ? "up" : status === "DEGRADED" ? "warn" : "down" });
}

/**
 * `: message` of an error answer's body, if it has one.
 * @param {unknown} body
 */
function messageOf(body) {
	return isObject(body) && typeof body.message === "string" && body.message ? `: ${body.message}` : "";
}

/**
 * What a 422 says is wrong, each field named (`event.clientName`): its entries' messages, which name
 * their field, or the field before a message that does not.
 * @param {unknown} body
 */
function problemsOf(body) {
	const data = isObject(body) && Array.isArray(body.data) ? body.data : [];
	const said = data.filter(isObject).map((entry) => {
		const field = typeof entry.field === "string" ? entry.field : "";
		const message = typeof entry.message === "string" ? entry.message : "";
		return field && !message.includes(`'${field}'`) ? `${field}: ${message || entry.type}` : message;
	});
	return said.length ? said.join(" ") : messageOf(body).slice(2) || "the request was refused";
}

// --- talking to the gateway ---

function token() {
	try {
		return sessionStorage.getItem(TOKEN_KEY);
	} catch {
		return null;
	}
}

/**
 * @param {string} method
 * @param {string} path
 * @param {boolean} withToken
 * @param {unknown} [payload] sent as JSON
 * @returns {Promise<{ status: number, body: unknown }>}
 */
async function call(method, path, withToken, payload) {
	const controller = new AbortController();
	const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
	/** @type {Record<string, string>} */
	const headers = { Accept: "application/json" };
	if (withToken) headers.Authorization = `Bearer ${token()}`;
	if (payload !== undefined) headers["Content-Type"] = "application/json";
	const body = payload === undefined ? undefined : JSON.stringify(payload);
	try {
		const res = await fetch(API + path, { method, headers, body, cache: "no-store", signal: controller.signal });
		const text = await res.text();
		/** @type {unknown} */
		let answer = null;
		try {
			answer = text ? JSON.parse(text) : null;
		} catch {
			answer = null;
		}
		return { status: res.status, body: answer };
	} finally {
		clearTimeout(timer);
	}
}

// --- what went away ---

/**
 * @param {string} text
 * @param {string} kind
 */
function noteChange(text, kind) {
	state.changes.unshift({ text, kind });
	state.changes.length = Math.min(state.changes.length, 30);
	fill(
		$("changes"),
		state.changes.map((change) => el("li", { text: change.text, className: change.kind })),
		"Nothing has gone away since this page was opened.",
		1,
	);
}

/**
 * Keep `known` (name → item) in step with what the gateway reports now: an item that was there
 * and is not any more is marked gone since now (and dropped after GONE_KEPT_MS); one that comes
 * back is live again. `describe` names an item in the changes list.
 * @template T
 * @param {Map<string, T & { goneSince: Date | null }>} known
 * @param {Map<string, T>} present
 * @param {Date} now
 * @param {string} what
 * @param {(name: string, item: T) => string} describe
 */
function track(known, present, now, what, describe) {
	for (const [name, item] of present) {
		const before = known.get(name);
		if (before?.goneSince) noteChange(`${what} ${describe(name, item)} back at ${hms(now)}`, "up");
		known.set(name, { ...item, goneSince: null });
	}
	for (const [name, item] of known) {
		if (present.has(name)) continue;
		if (!item.goneSince) {
			item.goneSince = now;
			noteChange(`${what} ${describe(name, item)} gone since ${hms(now)}`, "gone");
		} else if (now.getTime() - item.goneSince.getTime() > GONE_KEPT_MS) {
			known.delete(name);
		}
	}
}

// --- rendering one answer of /api/ready ---

/**
 * @param {unknown} component
 * @param {Date} now
 */
function renderNodes(component, now) {
	const caption = $("nodes-caption");
	if (!isObject(component)) {
		caption.textContent = "This gateway does not report its cluster's nodes.";
		return;
	}
	/** @type {Map<string, KnownNode>} */
	const present = new Map();
	for (const [name, node] of entries(component)) {
		const report = /** @type {NodeReport} */ (node);
		present.set(name, { services: Array.isArray(report.services) ? report.services.map(String) : [], local: report.local === true });
	}
	track(state.nodes, present, now, "node", (name, node) => name + (node.services.length ? ` (${node.services.join(", ")})` : ""));
	// by what they run (the probes and other service-less nodes last), then by name: rows stay put between answers
	/** @param {string} name */
	const order = (name) => `${[...(state.nodes.get(name)?.services ?? [])].sort().join(",") || "~"} ${name}`;
	const rows = [...state.nodes.keys()]
		.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0))
		.map((name) => {
			const node = /** @type {KnownNode & { goneSince: Date | null }} */ (state.nodes.get(name));
			return el("tr", { className: node.goneSince ? "gone" : "", attrs: { "data-node": name } }, [
				el("td", {}, [el("code", { text: name })]),
				cell(node.services.length ? node.services.join(", ") : "no service", "services"),
				cell(node.local ? "this gateway" : ""),
				node.goneSince ? el("td", { text: `gone since ${hms(node.goneSince)}`, className: "state gone" }) : el("td", { text: "live", className: "state up" }),
			]);
		});
	fill($("nodes-body"), rows, "No node reported.", 4);
	caption.textContent = `${present.size} live node${present.size === 1 ? "" : "s"}, named by a hash of their id.`;
}

/** @param {unknown} component */
function renderServices(component) {
	const rows = entries(component).map(([name, report]) => {
		const service = /** @type {ServiceReport} */ (report);
		return el("tr", { attrs: { "data-service": name } }, [cell(name), cell(service.nodes, "num nodes"), el("td", {}, [statusSpan(show(service.status))])]);
	});
	fill($("services-body"), rows, "This gateway does not report the services it routes to.", 3);
}

/**
 * "MOL-ns.EVENTB.goals.client.updated" → "client.updated" (the consumer is in its own column).
 * @param {string} name
 */
function shortQueue(name) {
	const match = /\.EVENTB\.[^.]+\.(.+)$/.exec(name);
	return match ? match[1] : name;
}

/**
 * @param {Record<string, unknown>} components
 * @param {Date} now
 */
function renderQueues(components, now) {
	/** @type {Map<string, KnownQueue>} */
	const present = new Map();
	const reported = isObject(components.consumers);
	for (const [consumer, report] of entries(components.consumers)) {
		// a paused consumer's queues have no consumer on purpose
		const paused = /** @type {ConsumerReport} */ (report).state === "paused";
		for (const [name, queue] of entries(/** @type {ConsumerReport} */ (report).queues)) {
			const { messages, consumers } = /** @type {QueueReport} */ (queue);
			present.set(name, { consumer, messages, consumers, paused });
		}
	}
	// the queues this node consumes itself (none on a gateway-only node)
	for (const [name, queue] of entries(components.queues)) {
		const { messages, consumers, paused } = /** @type {QueueReport} */ (queue);
		if (!present.has(name)) present.set(name, { consumer: "this node", messages, consumers, paused: paused === true });
	}
	track(state.queues, present, now, "queue", (name, queue) => `${shortQueue(name)} of ${queue.consumer}`);
	/** @type {HTMLElement[]} */
	const rows = [];
	for (const [name, queue] of state.queues) {
		let stateCell;
		if (queue.goneSince) stateCell = el("td", { text: `gone since ${hms(queue.goneSince)}`, className: "state gone" });
		else if (queue.messages === null || queue.messages === undefined) stateCell = el("td", { text: "missing", className: "state down" });
		else if (!queue.consumers && queue.paused) stateCell = el("td", { text: "paused", className: "state warn" });
		else if (!queue.consumers) stateCell = el("td", { text: "no consumer", className: "state warn" });
		else stateCell = el("td", { text: "consumed", className: "state up" });
		rows.push(
			el("tr", { className: queue.goneSince ? "gone" : "", attrs: { "data-queue": name } }, [
				el("td", { attrs: { title: name } }, [el("code", { text: shortQueue(name) })]),
				cell(queue.consumer),
				cell(queue.messages, "num messages"),
				cell(queue.consumers, "num consumers"),
				stateCell,
			]),
		);
	}
	fill($("queues-body"), rows, reported ? "No queue reported (not on AMQP?)." : "This gateway does not report its cluster's queues.", 5);
}

/**
 * A consumer's Pause or Resume button (with the admin token only): pausing asks for a reason first.
 * @param {string} name
 * @param {ConsumerReport} report
 */
function pauseControl(name, report) {
	if (!token()) return el("td", { className: "action" });
	const control =
		report.state === "paused"
			? button("Resume", `Resume consumer ${name}`, (node) => resumeConsumer(name, node))
			: button("Pause", `Pause consumer ${name}`, () => askPauseReason(name));
	return el("td", { className: "action" }, [control]);
}

/** @param {unknown} component */
function renderConsumers(component) {
	/** @type {Array<[string, ConsumerReport]>} */
	const consumers = entries(component);
	const rows = consumers.map(([name, c]) =>
		el("tr", { attrs: { "data-consumer": name } }, [
			cell(name),
			cell(c.producer),
			cell(c.head, "num head"),
			cell(c.checkpoint, "num checkpoint"),
			cell(c.lag, `num lag${(c.lag ?? 0) > 0 ? " warn" : ""}`),
			cell(c.pendingRetries, `num retries${(c.pendingRetries ?? 0) > 0 ? " warn" : ""}`),
			cell(c.deadLetters, `num dead-letters${(c.deadLetters ?? 0) > 0 ? " down" : ""}`),
			cell(c.reported, `reported${c.reported === "live" ? "" : " warn"}`),
			cell(c.state, `state${c.state === "paused" ? " warn" : ""}`),
			el("td", { text: c.since ? when(c.since) : "–", className: "since", attrs: c.since ? { title: c.since } : {} }),
			cell(c.reason, "reason"),
			pauseControl(name, c),
		]),
	);
	fill($("consumers-body"), rows, "This gateway does not report its cluster's consumers.", 12);
	const dead = consumers.reduce((sum, [, c]) => sum + (typeof c.deadLetters === "number" ? c.deadLetters : 0), 0);
	$("dl-count").textContent = consumers.length ? `${dead} dead letter${dead === 1 ? "" : "s"} reported by the consumers.` : "";
}

/** @param {unknown} component */
function renderRelays(component) {
	/** @type {Array<[string, RelayReport]>} */
	const relays = entries(component);
	const rows = relays.map(([name, r]) =>
		el("tr", { attrs: { "data-relay": name } }, [
			cell(r.producer),
			cell(r.head, "num head"),
			cell(r.checkpoint, "num checkpoint"),
			cell(r.lag, `num lag${(r.lag ?? 0) > 0 ? " warn" : ""}`),
			cell(r.reported, `reported${r.reported === "live" || r.reported === "off" ? "" : " warn"}`),
		]),
	);
	fill($("relays-body"), rows, "This gateway does not report its cluster's relays.", 5);
}

/** @param {Record<string, unknown>} components */
function renderComponents(components) {
	const rows = Object.keys(components).map((name) => {
		const raw = components[name];
		/** @type {ComponentReport} */
		const c = isObject(raw) ? raw : {};
		const detail = c.type !== undefined ? String(c.type) : c.enabled !== undefined ? (c.enabled ? "enabled" : "off") : "";
		return el("tr", {}, [cell(name), el("td", {}, [statusSpan(String(c.status))]), cell(detail)]);
	});
	fill($("components-body"), rows, "No component.", 3);
}

// --- throughput: the change of each producer's log head between two answers ---

/**
 * @param {unknown} component
 * @param {Date} now
 */
function sample(component, now) {
	/** @type {Record<string, number>} */
	const heads = {};
	for (const [, c] of /** @type {Array<[string, ConsumerReport]>} */ (entries(component))) {
		if (typeof c.head === "number" && c.producer) heads[c.producer] = c.head;
	}
	state.samples.push({ t: now.getTime(), heads });
	while (state.samples.length > 2 && now.getTime() - state.samples[0].t > WINDOW_MS + REFRESH_MS) state.samples.shift();
}

/**
 * producer → [{t, rate}] in events per second
 * @returns {Record<string, Array<{ t: number, rate: number }>>}
 */
function rates() {
	/** @type {Record<string, Array<{ t: number, rate: number }>>} */
	const series = {};
	for (let i = 1; i < state.samples.length; i++) {
		const a = state.samples[i - 1];
		const b = state.samples[i];
		const seconds = (b.t - a.t) / 1000;
		for (const producer of Object.keys(b.heads)) {
			series[producer] = series[producer] || [];
			if (a.heads[producer] === undefined || seconds <= 0) continue;
			// a head that went back (a producer's log reset) is no negative throughput
			series[producer].push({ t: b.t, rate: Math.max(0, b.heads[producer] - a.heads[producer]) / seconds });
		}
	}
	return series;
}

/** @param {number} value */
function niceCeiling(value) {
	const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
	return steps.find((step) => value <= step) ?? Math.ceil(value);
}

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @param {string} [text]
 */
function svg(tag, attrs, text) {
	const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
	for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
	if (text !== undefined) node.textContent = text;
	return node;
}

/** @param {Date} now */
function renderChart(now) {
	const chart = $("chart");
	const [W, H, left, right, top, bottom] = [600, 140, 44, 8, 8, 20];
	const series = rates();
	const producers = Object.keys(series).sort();
	let max = 0;
	for (const producer of producers) for (const point of series[producer]) max = Math.max(max, point.rate);
	const yMax = niceCeiling(max);
	const end = now.getTime();
	/** @param {number} t */
	const x = (t) => left + ((t - (end - WINDOW_MS)) / WINDOW_MS) * (W - left - right);
	/** @param {number} rate */
	const y = (rate) => top + (1 - rate / yMax) * (H - top - bottom);
	/** @type {Element[]} */
	const parts = [
		svg("line", { x1: left, y1: y(0), x2: W - right, y2: y(0), stroke: "#8c959f" }),
		svg("line", { x1: left, y1: y(yMax), x2: W - right, y2: y(yMax), stroke: "#d0d7de", "stroke-dasharray": "3 3" }),
		svg("text", { x: left - 4, y: y(yMax) + 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" }, `${yMax}/s`),
		svg("text", { x: left - 4, y: y(0) + 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" }, "0"),
		svg("text", { x: left, y: H - 4, "font-size": 11, fill: "#57606a" }, "2 min ago"),
		svg("text", { x: W - right, y: H - 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" }, "now"),
	];
	/** @type {HTMLElement[]} */
	const legend = [];
	/** @type {string[]} */
	const said = [];
	producers.forEach((producer, index) => {
		const color = COLORS[index % COLORS.length];
		const points = series[producer].filter((point) => point.t >= end - WINDOW_MS);
		if (points.length > 0) {
			parts.push(
				svg("polyline", {
					points: points.map((point) => `${x(point.t).toFixed(1)},${y(point.rate).toFixed(1)}`).join(" "),
					fill: "none",
					stroke: color,
					"stroke-width": 2,
				}),
			);
		}
		const last = points.length ? points[points.length - 1].rate : 0;
		const text = `${producer} events: ${last.toFixed(1)}/s`;
		said.push(text);
		const swatch = el("span", { className: "swatch", attrs: { "aria-hidden": "true" } });
		// a CSSOM property, which the page's CSP allows (a style attribute would not be)
		swatch.style.background = color;
		legend.push(el("span", { attrs: { "data-producer": producer } }, [swatch, document.createTextNode(text)]));
	});
	chart.replaceChildren(...parts);
	chart.setAttribute(
		"aria-label",
		`Events per second over the last 2 minutes, by producer${said.length ? `: ${said.join("; ")}` : ": no producer reported yet"}`,
	);
	$("legend").replaceChildren(...(legend.length ? legend : [el("span", { text: "No producer's log head reported yet.", className: "muted" })]));
}

/**
 * @param {number} httpStatus
 * @param {Readiness | null} readiness null: no answer
 */
function renderBanner(httpStatus, readiness) {
	const banner = $("banner");
	const main = /** @type {HTMLElement} */ (document.querySelector("main"));
	if (state.unreachableSince || !readiness) {
		const since = state.unreachableSince ?? new Date();
		banner.className = "down";
		banner.textContent = `Gateway unreachable since ${hms(since)}${state.lastAnswerAt ? `; the figures below are its last answer, at ${hms(state.lastAnswerAt)}.` : "; no answer yet."}`;
		main.className = "stale";
		return;
	}
	main.className = "";
	const components = readiness.components;
	/** @param {string} name */
	const statusOf = (name) => {
		const component = components[name];
		return isObject(component) ? component.status : undefined;
	};
	const notUp = Object.keys(components).filter((name) => statusOf(name) !== "UP");
	if (readiness.status === "UP") {
		banner.className = "up";
		banner.textContent = `Ready: every component is UP (HTTP ${httpStatus}).`;
	} else if (readiness.status === "DEGRADED") {
		// still in the load balancer: only the routes of the services without a live node fail
		const missing = entries(components.services)
			.filter(([, service]) => /** @type {ServiceReport} */ (service).status !== "UP")
			.map(([name]) => name);
		banner.className = "warn";
		banner.textContent = `Degraded (HTTP ${httpStatus}): ${
			missing.length
				? `no live node for ${missing.join(", ")}; ${missing.length === 1 ? "its" : "their"} routes answer 503, the others are served.`
				: `${notUp.join(", ")} DEGRADED.`
		}`;
	} else {
		banner.className = "down";
		banner.textContent = `Not ready (HTTP ${httpStatus}): ${
			notUp.length ? `${notUp.map((name) => `${name} ${statusOf(name)}`).join(", ")}.` : "the gateway has not started every service."
		}`;
	}
}

/**
 * @param {number} httpStatus
 * @param {Readiness} readiness
 * @param {Date} now
 */
function render(httpStatus, readiness, now) {
	const components = readiness.components;
	renderBanner(httpStatus, readiness);
	renderNodes(components.nodes, now);
	renderServices(components.services);
	renderQueues(components, now);
	renderConsumers(components.consumers);
	renderRelays(components.relays);
	renderComponents(components);
	sample(components.consumers, now);
	renderChart(now);
	$("updated").textContent = `Status ${readiness.status} · updated ${hms(now)} · every ${REFRESH_MS / 1000} s`;
}

// --- the admin token (this tab only) ---

/**
 * @param {string} id
 * @param {string} text
 */
function say(id, text) {
	$(id).textContent = text;
}

/** @param {string} [message] */
function showTokenForm(message) {
	const has = !!token();
	$("token-form").hidden = has;
	$("forget-token").hidden = !has;
	$("dl-admin").hidden = !has;
	$("dl-table").hidden = !has;
	if (!has) {
		// what the token showed goes with it; the next token lists afresh
		closeEditor();
		closeBulk();
		closePauseForm();
		$("dl-body").replaceChildren();
		$("dl-pager").hidden = true;
		say("dl-caption", "");
		state.shownList = "";
		state.listed = null;
	}
	say("token-message", message || "");
	if (!has && message) $("token-input").focus();
}

/** @param {number} status */
function refused(status) {
	if (status === 401) {
		try {
			sessionStorage.removeItem(TOKEN_KEY);
		} catch {
			// nothing kept
		}
		showTokenForm("The gateway refused that token (401). Enter the admin token again.");
		return true;
	}
	if (status === 429) {
		say("dl-error", "Too many refused tokens from this address (429): wait a minute, then try again.");
		return true;
	}
	return false;
}

// --- dead letters: filtered, paged, edited, retried and discarded ---

/** @param {number} count */
function letters(count) {
	return `${count} dead letter${count === 1 ? "" : "s"}`;
}

/** The filter form's fields as the list's query takes them: a time is the local time typed in, sent as ISO. */
function readFilter() {
	const data = new FormData(/** @type {HTMLFormElement} */ ($("dl-filter")));
	/** @param {string} name */
	const field = (name) => String(data.get(name) ?? "");
	/** @type {Filter} */
	const filter = {};
	if (field("consumer")) filter.consumer = field("consumer");
	if (field("eventType")) filter.eventType = field("eventType");
	// the browser's number field: a number, or "" (it does not submit one that is no number)
	if (field("entityId").trim()) filter.entityId = Number(field("entityId"));
	// as typed: white space may be part of the text looked for
	if (field("error")) filter.error = field("error");
	for (const key of /** @type {const} */ (["from", "to"])) {
		const local = field(key);
		if (!local) continue;
		const date = new Date(local);
		// one that is no time goes as it is: the gateway's 422 names the field
		filter[key] = Number.isNaN(date.getTime()) ? local : date.toISOString();
	}
	if (field("state") && field("state") !== "dead") filter.state = field("state");
	return filter;
}

/**
 * The filter in words, without its state: "consumer goals, entity id 3"; "" for none.
 * @param {Filter} filter
 */
function describeFilter(filter) {
	/** @type {string[]} */
	const parts = [];
	if (filter.consumer) parts.push(`consumer ${filter.consumer}`);
	if (filter.eventType) parts.push(`event type ${filter.eventType}`);
	if (filter.entityId !== undefined) parts.push(`entity id ${filter.entityId}`);
	if (filter.error) parts.push(`error containing "${filter.error}"`);
	if (filter.from) parts.push(`first failed at or after ${when(filter.from)}`);
	if (filter.to) parts.push(`first failed before ${when(filter.to)}`);
	return parts.join(", ");
}

/** @param {Filter} filter */
function describeListed(filter) {
	const which = describeFilter(filter);
	const state = filter.state ?? "dead";
	const head =
		state === "dead" ? "Dead letters waiting for an operator" : `${state === "discarded" ? "Discarded" : "Replayed"} dead letters (kept, then purged)`;
	return `${head}${which ? `, matching ${which}` : ": all of them"}.`;
}

/**
 * The fields an edit changed, by name.
 * @param {unknown} original
 * @param {unknown} edited
 */
function changedFields(original, edited) {
	if (!isObject(original) || !isObject(edited)) return [];
	const names = [...new Set([...Object.keys(original), ...Object.keys(edited)])];
	return names.filter((name) => JSON.stringify(original[name]) !== JSON.stringify(edited[name]));
}

/** @param {unknown} event */
function eventSummary(event) {
	if (!isObject(event)) return "";
	const id = event.clientId !== undefined ? `client ${event.clientId}` : event.goalId !== undefined ? `goal ${event.goalId}` : "";
	return [event.source, event.eventType, id, event.sequence !== undefined ? `sequence ${event.sequence}` : ""].filter(Boolean).join(" ");
}

/**
 * The event a dead letter holds (as edited, if it was), and for an edited one when, by whom, what
 * changed and the event as it failed.
 * @param {DeadLetter} letter
 */
function eventCell(letter) {
	/** @type {HTMLElement[]} */
	const parts = [
		el("details", { className: "event" }, [
			el("summary", { text: eventSummary(letter.event) || "event" }),
			el("pre", { text: JSON.stringify(letter.event, null, 2) }),
		]),
	];
	if (letter.edited) {
		const changed = changedFields(letter.original, letter.event);
		const at = letter.edited.at ? ` at ${when(letter.edited.at)}` : "";
		parts.push(
			el("p", {
				className: "edited",
				text: `Edited${at} by ${letter.edited.by ?? "someone"}${changed.length ? `: ${changed.join(", ")} changed` : ": nothing changed"}.`,
			}),
			el("details", { className: "original" }, [
				el("summary", { text: "Original, as it failed" }),
				el("pre", { text: JSON.stringify(letter.original, null, 2) }),
			]),
		);
	}
	return el("td", { className: "event" }, parts);
}

/** @param {DeadLetterPage} page */
function renderDeadLetters(page) {
	const rows = page.rows.map((letter) => {
		// only one waiting for an operator can be edited or retried; a discarded or replayed one is kept to be looked at
		const waiting = letter.state === undefined || letter.state === "dead";
		const actions = waiting
			? [
					button("Edit", `Edit dead letter ${letter.id}`, () => openEditor(letter)),
					button("Retry", `Retry dead letter ${letter.id}`, (node) => retry(letter.id, node)),
				]
			: [];
		return el("tr", { attrs: { "data-dead-letter": letter.id } }, [
			el("td", { className: "id" }, [el("code", { text: letter.id })]),
			cell(letter.consumer, "consumer"),
			cell(letter.attempts, "num attempts"),
			cell(letter.state, `state${waiting ? " down" : ""}`),
			cell(letter.lastError, "error"),
			el("td", { text: letter.failedAt ? when(letter.failedAt) : "–", className: "failed-at", attrs: letter.failedAt ? { title: letter.failedAt } : {} }),
			eventCell(letter),
			el("td", { className: "action" }, actions),
		]);
	});
	const filtered = describeFilter(state.filter) !== "" || state.filter.state !== undefined;
	fill($("dl-body"), rows, filtered ? "No dead letter matches this filter." : "No dead letter.", 8);
	const pageNumber = page.page ?? 1;
	const pages = Math.max(1, page.totalPages ?? 1);
	const first = (pageNumber - 1) * DL_PAGE_SIZE + 1;
	say("dl-caption", page.total === 0 ? "" : pages > 1 ? `${first}–${first + page.rows.length - 1} of ${page.total}.` : `${page.total} in all.`);
	$("dl-pager").hidden = pages <= 1;
	say("dl-page", `Page ${pageNumber} of ${pages}`);
	/** @type {HTMLButtonElement} */ ($("dl-prev")).disabled = pageNumber <= 1;
	/** @type {HTMLButtonElement} */ ($("dl-next")).disabled = pageNumber >= pages;
}

/** The bulk buttons act on what the list shows: enabled when it shows dead letters waiting for an operator. */
function updateBulkButtons() {
	const waiting = (state.filter.state ?? "dead") === "dead";
	const count = state.listed?.total ?? 0;
	for (const id of ["bulk-retry", "bulk-discard"]) {
		const node = /** @type {HTMLButtonElement} */ ($(id));
		node.disabled = !waiting || count === 0;
		node.title = waiting ? (count === 0 ? "No dead letter matches the filter." : "") : "Only dead letters waiting for an operator can be retried or discarded.";
	}
}

async function loadDeadLetters() {
	if (!token()) return;
	const ticket = ++state.listTicket;
	const filter = { ...state.filter };
	const page = state.page;
	const query = new URLSearchParams({ page: String(page), pageSize: String(DL_PAGE_SIZE) });
	for (const [key, value] of Object.entries(filter)) if (value !== undefined) query.set(key, String(value));
	try {
		const res = await call("GET", `admin/dead-letters?${query}`, true);
		// an answer to an earlier filter or page, overtaken by a later call
		if (ticket !== state.listTicket) return;
		if (refused(res.status)) return;
		if (res.status !== 200 || !isObject(res.body) || !Array.isArray(res.body.rows) || typeof res.body.total !== "number") {
			say(
				"dl-error",
				res.status === 422
					? `The filter was refused (HTTP 422): ${problemsOf(res.body)}`
					: `Could not list the dead letters (HTTP ${res.status}${messageOf(res.body)}).`,
			);
			return;
		}
		say("dl-error", "");
		const answer = /** @type {DeadLetterPage} */ (res.body);
		if (answer.rows.length === 0 && page > 1 && answer.total > 0) {
			// this page emptied (its letters retried or discarded): the last one there is now
			state.page = Math.max(1, Math.min(page - 1, answer.totalPages ?? 1));
			await loadDeadLetters();
			return;
		}
		state.listed = { total: answer.total, filter };
		updateBulkButtons();
		say("dl-filter-shown", describeListed(filter));
		// an open editor stays as it is: the list is built again once it is saved or closed
		if (state.editing) return;
		// built again only when it changed, so that an event opened to be read stays open
		const shown = JSON.stringify([filter, page, answer]);
		if (shown === state.shownList) return;
		state.shownList = shown;
		renderDeadLetters(answer);
	} catch {
		if (ticket === state.listTicket) say("dl-error", "Could not list the dead letters: the gateway did not answer.");
	}
}

/**
 * @param {string} id
 * @param {HTMLButtonElement | null} node
 */
async function retry(id, node) {
	if (!token()) {
		state.pendingRetry = id;
		showTokenForm(`Enter the admin token to retry ${id}.`);
		return;
	}
	// its saved event is what is retried: an edit not saved is dropped
	if (state.editing === id) closeEditor();
	if (node) node.disabled = true;
	try {
		const res = await call("POST", `admin/dead-letters/${encodeURIComponent(id)}/retry`, true);
		if (refused(res.status)) {
			state.pendingRetry = id;
			return;
		}
		if (res.status === 200) say("dl-message", `Dead letter ${id} sent back to its consumer at ${hms(new Date())}.`);
		else if (res.status === 404) say("dl-message", `${id} is no longer a dead letter.`);
		else say("dl-message", `Retry of ${id} failed (HTTP ${res.status}${messageOf(res.body)}).`);
	} catch {
		say("dl-message", `Retry of ${id}: the gateway did not answer (it may or may not have been retried).`);
	} finally {
		if (node) node.disabled = false;
	}
	await loadDeadLetters();
}

// --- edit before replay ---

/**
 * Open a dead letter's event as JSON in a text box under its row; Save sends it (PUT).
 * @param {DeadLetter} letter
 */
function openEditor(letter) {
	closeEditor();
	const row = [...document.querySelectorAll("tr[data-dead-letter]")].find((candidate) => candidate.getAttribute("data-dead-letter") === letter.id);
	if (!row) return;
	state.editing = letter.id;
	const textarea = /** @type {HTMLTextAreaElement} */ (
		el("textarea", { className: "event-json", attrs: { rows: "14", spellcheck: "false", "aria-label": `Event of dead letter ${letter.id}, as JSON` } })
	);
	textarea.value = JSON.stringify(letter.event, null, 2);
	const problem = el("p", { className: "warn edit-error", attrs: { role: "alert" } });
	const editor = el("tr", { className: "editor", attrs: { "data-editor": letter.id } }, [
		el("td", { attrs: { colspan: "8" } }, [
			el("p", {
				className: "muted",
				text: `The event of ${letter.id} as its consumer will take it when it is retried. It is checked as a consumed event is; its eventId, sequence, version and entity id cannot change. The event as it failed is kept beside the edit.`,
			}),
			textarea,
			el("p", { className: "buttons" }, [
				button("Save", `Save the edit of dead letter ${letter.id}`, (node) => saveEdit(letter.id, textarea, problem, node)),
				button("Cancel", `Cancel the edit of dead letter ${letter.id}`, () => {
					closeEditor();
					loadDeadLetters();
				}),
			]),
			problem,
		]),
	]);
	row.after(editor);
	textarea.focus();
}

function closeEditor() {
	state.editing = null;
	for (const editor of document.querySelectorAll("tr[data-editor]")) editor.remove();
	// what the list said while the editor was open is shown at its next answer
	state.shownList = "";
}

/**
 * @param {string} id
 * @param {HTMLTextAreaElement} textarea
 * @param {HTMLElement} problem
 * @param {HTMLButtonElement} node
 */
async function saveEdit(id, textarea, problem, node) {
	/** @type {unknown} */
	let event;
	try {
		event = JSON.parse(textarea.value);
	} catch (err) {
		problem.textContent = `Not JSON (${err instanceof Error ? err.message : String(err)}): nothing was sent.`;
		return;
	}
	node.disabled = true;
	problem.textContent = "";
	try {
		const res = await call("PUT", `admin/dead-letters/${encodeURIComponent(id)}`, true, { event });
		if (refused(res.status)) return;
		if (res.status === 200) {
			closeEditor();
			say("dl-message", `Saved the edit of ${id} at ${hms(new Date())}: its Retry button replays the event as edited.`);
			await loadDeadLetters();
		} else if (res.status === 422) {
			problem.textContent = `Not saved (HTTP 422): ${problemsOf(res.body)} Nothing was changed.`;
		} else if (res.status === 404) {
			closeEditor();
			say("dl-message", `${id} is no longer a dead letter: it was not edited.`);
			await loadDeadLetters();
		} else {
			problem.textContent = `Not saved (HTTP ${res.status}${messageOf(res.body)}).`;
		}
	} catch {
		problem.textContent = "The gateway did not answer: the edit may or may not have been saved.";
	} finally {
		node.disabled = false;
	}
}

// --- retry or discard every dead letter the filter selects ---

/** @param {"retry" | "discard"} action */
function askBulk(action) {
	const listed = state.listed;
	if (!listed || listed.total === 0) return;
	state.bulk = { action, filter: listed.filter, count: listed.total };
	const which = describeFilter(listed.filter);
	const how = listed.total === 1 ? "the 1 dead letter" : `all ${letters(listed.total)}`;
	const selected = `${how} ${which ? `matching ${which}` : "waiting for an operator (no filter)"}`;
	say(
		"bulk-question",
		action === "retry"
			? `Retry ${selected}? Each is sent back to its consumer with a fresh set of attempts.`
			: `Discard ${selected}? A discarded letter is not applied: it is kept as discarded for DEAD_LETTER_RETENTION_DAYS, then purged.`,
	);
	say("bulk-yes", `${action === "retry" ? "Retry" : "Discard"} ${listed.total}`);
	$("bulk-confirm").hidden = false;
	$("bulk-yes").focus();
}

function closeBulk() {
	state.bulk = null;
	$("bulk-confirm").hidden = true;
}

async function confirmBulk() {
	const bulk = state.bulk;
	closeBulk();
	if (!bulk) return;
	const which = describeFilter(bulk.filter);
	const matching = which ? ` matching ${which}` : "";
	const yes = /** @type {HTMLButtonElement} */ ($("bulk-yes"));
	yes.disabled = true;
	try {
		// the filter the list showed (its state is "dead", the only one a bulk call takes)
		const res = await call("POST", `admin/dead-letters/${bulk.action}`, true, { filter: bulk.filter });
		if (refused(res.status)) return;
		const count = isObject(res.body) ? res.body[bulk.action === "retry" ? "retried" : "discarded"] : undefined;
		if (res.status === 200 && typeof count === "number") {
			// the answer's count: the list's may have moved on since it was shown
			const listed = count === bulk.count ? "" : ` (${bulk.count} were listed)`;
			say(
				"dl-message",
				bulk.action === "retry"
					? `Retried ${letters(count)}${matching} at ${hms(new Date())}${listed}: sent back to their consumers.`
					: `Discarded ${letters(count)}${matching} at ${hms(new Date())}${listed}.`,
			);
		} else {
			say("dl-message", `The ${bulk.action === "retry" ? "retry" : "discard"} of all${matching} failed (HTTP ${res.status}${messageOf(res.body)}).`);
		}
	} catch {
		say("dl-message", `The ${bulk.action === "retry" ? "retry" : "discard"} of all${matching}: the gateway did not answer (it may or may not have been done).`);
	} finally {
		yes.disabled = false;
	}
	await loadDeadLetters();
}

// --- pausing and resuming a consumer ---

/**
 * A pause asks first for its reason (optional), which the consumer's state shows.
 * @param {string} name
 */
function askPauseReason(name) {
	state.pausing = name;
	say("pause-label", `Pause ${name}: reason (optional)`);
	say("pause-submit", `Pause ${name}`);
	$("pause-form").hidden = false;
	$("pause-reason").focus();
}

function closePauseForm() {
	state.pausing = null;
	$("pause-form").hidden = true;
	/** @type {HTMLInputElement} */ ($("pause-reason")).value = "";
}

/** @param {unknown} body */
function pauseOf(body) {
	return /** @type {ConsumerPause} */ (isObject(body) ? body : {});
}

async function pauseConsumer() {
	const name = state.pausing;
	if (!name) return;
	const reason = /** @type {HTMLInputElement} */ ($("pause-reason")).value.trim();
	const submit = /** @type {HTMLButtonElement} */ ($("pause-submit"));
	submit.disabled = true;
	try {
		const res = await call("POST", `admin/consumers/${encodeURIComponent(name)}/pause`, true, reason ? { reason } : {});
		if (refused(res.status)) return;
		if (res.status === 200) {
			closePauseForm();
			const pause = pauseOf(res.body);
			say(
				"consumer-message",
				`${name} paused at ${hms(new Date())}${pause.reason ? `: ${pause.reason}` : ""}. Its events wait in its queues until it is resumed.`,
			);
			refresh();
		} else {
			say("consumer-message", `Pausing ${name} failed (HTTP ${res.status}: ${res.status === 422 ? problemsOf(res.body) : messageOf(res.body).slice(2)}).`);
		}
	} catch {
		say("consumer-message", `Pausing ${name}: the gateway did not answer (it may or may not be paused).`);
	} finally {
		submit.disabled = false;
	}
}

/**
 * @param {string} name
 * @param {HTMLButtonElement} node
 */
async function resumeConsumer(name, node) {
	node.disabled = true;
	try {
		const res = await call("POST", `admin/consumers/${encodeURIComponent(name)}/resume`, true);
		if (refused(res.status)) return;
		if (res.status === 200) {
			say("consumer-message", `${name} resumed at ${hms(new Date())}: it takes its events again.`);
			refresh();
		} else {
			say("consumer-message", `Resuming ${name} failed (HTTP ${res.status}${messageOf(res.body)}).`);
		}
	} catch {
		say("consumer-message", `Resuming ${name}: the gateway did not answer (it may or may not be running).`);
	} finally {
		node.disabled = false;
	}
}

// --- the controls' handlers ---

$("token-form").addEventListener("submit", (event) => {
	event.preventDefault();
	const input = /** @type {HTMLInputElement} */ ($("token-input"));
	const value = input.value.trim();
	if (!value) return;
	try {
		sessionStorage.setItem(TOKEN_KEY, value);
	} catch {
		say("token-message", "This browser keeps nothing for the tab: the token cannot be used.");
		return;
	}
	input.value = "";
	showTokenForm("");
	const pending = state.pendingRetry;
	state.pendingRetry = null;
	if (pending) retry(pending, null);
	// the list, and the consumers' Pause and Resume buttons
	refresh();
});

$("forget-token").addEventListener("click", () => {
	try {
		sessionStorage.removeItem(TOKEN_KEY);
	} catch {
		// nothing kept
	}
	say("dl-error", "");
	say("dl-message", "");
	say("consumer-message", "");
	showTokenForm("");
	refresh();
});

/** The filter typed in, from its first page. */
function applyFilter() {
	closeEditor();
	closeBulk();
	state.filter = readFilter();
	state.page = 1;
	state.listed = null;
	updateBulkButtons();
	say("dl-message", "");
	loadDeadLetters();
}

$("dl-filter").addEventListener("submit", (event) => {
	event.preventDefault();
	applyFilter();
});
$("dl-filter-clear").addEventListener("click", () => {
	/** @type {HTMLFormElement} */ ($("dl-filter")).reset();
	applyFilter();
});
$("dl-prev").addEventListener("click", () => {
	closeEditor();
	state.page = Math.max(1, state.page - 1);
	loadDeadLetters();
});
$("dl-next").addEventListener("click", () => {
	closeEditor();
	state.page += 1;
	loadDeadLetters();
});
$("bulk-retry").addEventListener("click", () => askBulk("retry"));
$("bulk-discard").addEventListener("click", () => askBulk("discard"));
$("bulk-yes").addEventListener("click", () => confirmBulk());
$("bulk-no").addEventListener("click", () => closeBulk());
$("pause-form").addEventListener("submit", (event) => {
	event.preventDefault();
	pauseConsumer();
});
$("pause-cancel").addEventListener("click", () => closePauseForm());

// --- the loop ---

/** Read /api/ready and the dead letters now, then every REFRESH_MS; a call while one runs makes another right after it. */
async function refresh() {
	if (state.refreshing) {
		state.refreshAgain = true;
		return;
	}
	state.refreshing = true;
	clearTimeout(state.timer);
	const now = new Date();
	try {
		const res = await call("GET", "ready", false);
		// 503 carries the same body when something is DOWN: still shown
		if (!isObject(res.body) || !isObject(res.body.components)) throw new Error("no readiness body");
		state.unreachableSince = null;
		state.lastAnswerAt = now;
		render(res.status, /** @type {Readiness} */ (res.body), now);
	} catch {
		if (!state.unreachableSince) state.unreachableSince = now;
		renderBanner(0, null);
	}
	try {
		await loadDeadLetters();
	} finally {
		state.refreshing = false;
		const again = state.refreshAgain;
		state.refreshAgain = false;
		state.timer = setTimeout(refresh, again ? 0 : REFRESH_MS);
	}
}

showTokenForm("");
updateBulkButtons();
refresh();
