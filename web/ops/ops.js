/**
 * The operations page's script (GET /ops/, web/ops/index.html loads it as a module). It reads the
 * public `GET /api/ready` every 2 s (nodes and the services on each, queues with depth and
 * consumers, each consumer's lag, pending retries and dead letters, each producer's relay to the
 * AMQP stream and its lag), draws the producers' event throughput from the change of their log
 * heads between answers, and says when a node or a queue that was there goes away and when the
 * gateway cannot be reached. Dead letters are listed and retried through the admin API with the
 * token the person types in; it is kept in sessionStorage (this tab only), never in localStorage
 * or a cookie.
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
 * @typedef {{ messages?: number | null, consumers?: number }} QueueReport
 * @typedef {{ nodes?: number, status?: string }} ServiceReport
 * @typedef {{ producer?: string, head?: number, checkpoint?: number, lag?: number, pendingRetries?: number, deadLetters?: number, reported?: string, queues?: unknown }} ConsumerReport
 * @typedef {{ producer?: string, head?: number, checkpoint?: number, lag?: number, reported?: string }} RelayReport
 * @typedef {{ status?: unknown, type?: unknown, enabled?: unknown }} ComponentReport
 * @typedef {{ id: string, consumer?: string, attempts?: number, lastError?: string, failedAt?: string, event?: unknown }} DeadLetter
 * @typedef {{ rows: DeadLetter[], total: number }} DeadLetterPage
 */

/**
 * What the page remembers between answers.
 * @typedef {{ services: string[], local: boolean }} KnownNode
 * @typedef {{ consumer: string, messages: number | null | undefined, consumers: number | undefined }} KnownQueue
 * @typedef {{ t: number, heads: Record<string, number> }} Sample
 * @typedef {{ text: string, kind: string }} Change
 */

const REFRESH_MS = 2000;
const WINDOW_MS = 120000;
const TIMEOUT_MS = 5000;
const GONE_KEPT_MS = 600000;
const TOKEN_KEY = "ops.adminToken";
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
 * @returns {Promise<{ status: number, body: unknown }>}
 */
async function call(method, path, withToken) {
	const controller = new AbortController();
	const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
	/** @type {Record<string, string>} */
	const headers = { Accept: "application/json" };
	if (withToken) headers.Authorization = `Bearer ${token()}`;
	try {
		const res = await fetch(API + path, { method, headers, cache: "no-store", signal: controller.signal });
		const text = await res.text();
		/** @type {unknown} */
		let body = null;
		try {
			body = text ? JSON.parse(text) : null;
		} catch {
			body = null;
		}
		return { status: res.status, body };
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
		for (const [name, queue] of entries(/** @type {ConsumerReport} */ (report).queues)) {
			const { messages, consumers } = /** @type {QueueReport} */ (queue);
			present.set(name, { consumer, messages, consumers });
		}
	}
	// the queues this node consumes itself (none on a gateway-only node)
	for (const [name, queue] of entries(components.queues)) {
		const { messages, consumers } = /** @type {QueueReport} */ (queue);
		if (!present.has(name)) present.set(name, { consumer: "this node", messages, consumers });
	}
	track(state.queues, present, now, "queue", (name, queue) => `${shortQueue(name)} of ${queue.consumer}`);
	/** @type {HTMLElement[]} */
	const rows = [];
	for (const [name, queue] of state.queues) {
		let stateCell;
		if (queue.goneSince) stateCell = el("td", { text: `gone since ${hms(queue.goneSince)}`, className: "state gone" });
		else if (queue.messages === null || queue.messages === undefined) stateCell = el("td", { text: "missing", className: "state down" });
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
		]),
	);
	fill($("consumers-body"), rows, "This gateway does not report its cluster's consumers.", 8);
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

// --- dead letters (admin token, this tab only) ---

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
	$("dl-table").hidden = !has;
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

/** @param {unknown} event */
function eventSummary(event) {
	if (!isObject(event)) return "";
	const id = event.clientId !== undefined ? `client ${event.clientId}` : event.goalId !== undefined ? `goal ${event.goalId}` : "";
	return [event.source, event.eventType, id, event.sequence !== undefined ? `sequence ${event.sequence}` : ""].filter(Boolean).join(" ");
}

/** @param {DeadLetterPage} page */
function renderDeadLetters(page) {
	const rows = page.rows.map((letter) => {
		const button = /** @type {HTMLButtonElement} */ (
			el("button", { text: "Retry", attrs: { type: "button", "aria-label": `Retry dead letter ${letter.id}`, "data-retry": letter.id } })
		);
		button.addEventListener("click", () => retry(letter.id, button));
		const details = el("details", {}, [
			el("summary", { text: eventSummary(letter.event) || "event" }),
			el("pre", { text: JSON.stringify(letter.event, null, 2) }),
		]);
		return el("tr", { attrs: { "data-dead-letter": letter.id } }, [
			el("td", {}, [el("code", { text: letter.id })]),
			cell(letter.consumer),
			cell(letter.attempts, "num"),
			cell(letter.lastError),
			cell(letter.failedAt ? hms(new Date(letter.failedAt)) : ""),
			el("td", {}, [details]),
			el("td", {}, [button]),
		]);
	});
	fill($("dl-body"), rows, "No dead letter.", 7);
	say("dl-caption", page.total > page.rows.length ? `The first ${page.rows.length} of ${page.total}.` : `${page.total} in all.`);
}

async function loadDeadLetters() {
	if (!token()) return;
	try {
		const res = await call("GET", "admin/dead-letters?page=1&pageSize=100", true);
		if (refused(res.status)) return;
		if (res.status !== 200 || !isObject(res.body) || !Array.isArray(res.body.rows)) {
			say("dl-error", `Could not list the dead letters (HTTP ${res.status}${messageOf(res.body)}).`);
			return;
		}
		say("dl-error", "");
		renderDeadLetters(/** @type {DeadLetterPage} */ (res.body));
	} catch {
		say("dl-error", "Could not list the dead letters: the gateway did not answer.");
	}
}

/**
 * @param {string} id
 * @param {HTMLButtonElement | null} button
 */
async function retry(id, button) {
	if (!token()) {
		state.pendingRetry = id;
		showTokenForm(`Enter the admin token to retry ${id}.`);
		return;
	}
	if (button) button.disabled = true;
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
		if (button) button.disabled = false;
	}
	await loadDeadLetters();
}

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
	else loadDeadLetters();
});

$("forget-token").addEventListener("click", () => {
	try {
		sessionStorage.removeItem(TOKEN_KEY);
	} catch {
		// nothing kept
	}
	$("dl-body").replaceChildren();
	say("dl-caption", "");
	say("dl-error", "");
	say("dl-message", "");
	showTokenForm("");
});

// --- the loop ---

async function refresh() {
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
	await loadDeadLetters();
	setTimeout(refresh, REFRESH_MS);
}

showTokenForm("");
refresh();
