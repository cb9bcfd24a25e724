/**
 * The operations page `GET /ops/`: one static HTML page, its style and script inline, no build
 * step, no framework, nothing from a CDN. It reads the public `GET /api/ready` every 2 s (nodes
 * and the services on each, queues with depth and consumers, each consumer's lag, pending
 * retries and dead letters, each producer's relay to the AMQP stream and its lag), draws the producers' event throughput from the change of their log
 * heads between answers, and says when a node or a queue that was there goes away and when the
 * gateway cannot be reached. Dead letters are listed and retried through the admin API with the
 * token the person types in; it is kept in sessionStorage (this tab only), never in
 * localStorage or a cookie.
 *
 * Kept as text here, as the docs page is (docs-page.ts), so that the compiled program carries it.
 * Its Content-Security-Policy allows exactly this script and this style (by hash), requests to
 * this origin only, and nothing else: no inline event handler, no eval, no foreign script. The
 * script builds the page with the DOM (textContent, never innerHTML): a dead letter's error text
 * or payload is shown as text, whatever it holds. URLs are relative to the page, so it works
 * under whatever prefix a proxy puts the gateway, at `/ops/` and `/ops` alike.
 *
 * The script is plain ES2020 in a TypeScript string: no backticks and no `${` in it.
 */
import { createHash } from "node:crypto";

const STYLE = `
:root { color-scheme: light; --ok: #1a7f37; --bad: #c62828; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #fff; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 16px; padding: 12px 20px; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 6px; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; padding: 12px 20px 24px; }
main.stale section { opacity: 0.55; }
section { min-width: 0; }
section.wide { grid-column: 1 / -1; }
table + h2 { margin-top: 14px; }
table { border-collapse: collapse; width: 100%; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12px; padding-top: 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px 4px 0; text-align: left; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
pre { white-space: pre-wrap; word-break: break-all; font-size: 12px; margin: 4px 0; max-width: 60ch; }
.up { color: var(--ok); font-weight: 600; }
.down, .gone { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); font-weight: 600; }
.muted { color: var(--muted); }
tr.gone td { color: var(--muted); text-decoration: line-through; }
tr.gone td.state { text-decoration: none; }
#banner { margin: 0; padding: 8px 20px; font-weight: 600; }
#banner.up { background: #dafbe1; }
#banner.down { background: #ffebe9; }
#banner.warn { background: #fff8c5; }
#changes { margin: 0; padding-left: 18px; max-height: 9em; overflow: auto; }
#changes li.gone { color: var(--bad); }
#chart { width: 100%; height: auto; display: block; background: var(--bg); border: 1px solid var(--line); }
.legend { display: flex; gap: 16px; flex-wrap: wrap; margin-top: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
form { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 6px 0; }
input[type=password] { font: inherit; padding: 3px 6px; min-width: 24ch; }
button { font: inherit; padding: 2px 10px; cursor: pointer; }
#dl-message:empty, #dl-error:empty, #token-message:empty { display: none; }
`;

const SCRIPT = `
(function () {
	"use strict";
	var REFRESH_MS = 2000;
	var WINDOW_MS = 120000;
	var TIMEOUT_MS = 5000;
	var GONE_KEPT_MS = 600000;
	var TOKEN_KEY = "ops.adminToken";
	var COLORS = ["#0969da", "#bc4c00", "#8250df", "#1a7f37"];
	// the API beside this page, under the same prefix: /ops/ and /ops both read /api/
	var API = location.pathname.replace(/ops\\/?$/, "") + "api/";

	var state = {
		nodes: new Map(),
		queues: new Map(),
		samples: [],
		changes: [],
		unreachableSince: null,
		lastAnswerAt: null,
		pendingRetry: null,
	};

	function $(id) { return document.getElementById(id); }
	function pad(n) { return n < 10 ? "0" + n : String(n); }
	function hms(date) { return pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()); }
	function isObject(value) { return typeof value === "object" && value !== null && !Array.isArray(value); }
	function show(value) { return value === null || value === undefined ? "–" : String(value); }

	/** The entries of a component: every key but its status (and a masked message). */
	function entries(component) {
		if (!isObject(component)) return [];
		return Object.keys(component).filter(function (key) { return key !== "status" && key !== "message" && isObject(component[key]); })
			.map(function (key) { return [key, component[key]]; });
	}

	function el(tag, options, children) {
		var node = document.createElement(tag);
		options = options || {};
		if (options.text !== undefined) node.textContent = options.text;
		if (options.className) node.className = options.className;
		if (options.attrs) Object.keys(options.attrs).forEach(function (name) { node.setAttribute(name, options.attrs[name]); });
		(children || []).forEach(function (child) { node.appendChild(child); });
		return node;
	}

	function cell(text, className) { return el("td", { text: show(text), className: className }); }

	function fill(tbody, rows, emptyText, columns) {
		tbody.replaceChildren.apply(tbody, rows.length ? rows : [el("tr", {}, [el("td", { text: emptyText, className: "muted", attrs: { colspan: String(columns) } })])]);
	}

	// DEGRADED: the gateway serves, some routes answer 503 (a routed service has no live node)
	function statusSpan(status) { return el("span", { text: status, className: status === "UP" ? "up" : status === "DEGRADED" ? "warn" : "down" }); }

	// --- talking to the gateway ---

	function token() {
		try { return sessionStorage.getItem(TOKEN_KEY); } catch (err) { return null; }
	}

	async function call(method, path, withToken) {
		var controller = new AbortController();
		var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
		var headers = { Accept: "application/json" };
		if (withToken) headers.Authorization = "Bearer " + token();
		try {
			var res = await fetch(API + path, { method: method, headers: headers, cache: "no-store", signal: controller.signal });
			var text = await res.text();
			var body = null;
			try { body = text ? JSON.parse(text) : null; } catch (err) { body = null; }
			return { status: res.status, body: body };
		} finally {
			clearTimeout(timer);
		}
	}

	// --- what went away ---

	function noteChange(text, kind) {
		state.changes.unshift({ text: text, kind: kind });
		state.changes.length = Math.min(state.changes.length, 30);
		fill($("changes"), state.changes.map(function (change) { return el("li", { text: change.text, className: change.kind }); }), "Nothing has gone away since this page was opened.", 1);
	}

	/**
	 * Keep 'known' (name → item) in step with what the gateway reports now: an item that was there
	 * and is not any more is marked gone since now (and dropped after GONE_KEPT_MS); one that comes
	 * back is live again. 'describe' names an item in the changes list.
	 */
	function track(known, present, now, what, describe) {
		present.forEach(function (item, name) {
			var before = known.get(name);
			if (before && before.goneSince) noteChange(what + " " + describe(name, item) + " back at " + hms(now), "up");
			known.set(name, Object.assign({}, item, { goneSince: null }));
		});
		known.forEach(function (item, name) {
			if (present.has(name)) return;
			if (!item.goneSince) {
				item.goneSince = now;
				noteChange(what + " " + describe(name, item) + " gone since " + hms(now), "gone");
			} else if (now - item.goneSince > GONE_KEPT_MS) {
				known.delete(name);
			}
		});
	}

	// --- rendering one answer of /api/ready ---

	function renderNodes(component, now) {
		var caption = $("nodes-caption");
		if (!isObject(component)) {
			caption.textContent = "This gateway does not report its cluster's nodes.";
			return;
		}
		var present = new Map();
		entries(component).forEach(function (entry) {
			present.set(entry[0], { services: Array.isArray(entry[1].services) ? entry[1].services : [], local: entry[1].local === true });
		});
		track(state.nodes, present, now, "node", function (name, node) { return name + (node.services.length ? " (" + node.services.join(", ") + ")" : ""); });
		var rows = [];
		// by what they run (the probes and other service-less nodes last), then by name: rows stay put between answers
		var order = function (name) { var services = state.nodes.get(name).services.slice().sort().join(","); return (services || "~") + " " + name; };
		Array.from(state.nodes.keys()).sort(function (a, b) { return order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0; }).forEach(function (name) {
			var node = state.nodes.get(name);
			rows.push(el("tr", { className: node.goneSince ? "gone" : "", attrs: { "data-node": name } }, [
				el("td", {}, [el("code", { text: name })]),
				cell(node.services.length ? node.services.join(", ") : "no service", "services"),
				cell(node.local ? "this gateway" : ""),
				node.goneSince ? el("td", { text: "gone since " + hms(node.goneSince), className: "state gone" }) : el("td", { text: "live", className: "state up" }),
			]));
		});
		fill($("nodes-body"), rows, "No node reported.", 4);
		caption.textContent = present.size + " live node" + (present.size === 1 ? "" : "s") + ", named by a hash of their id.";
	}

	function renderServices(component) {
		var rows = entries(component).map(function (entry) {
			return el("tr", { attrs: { "data-service": entry[0] } }, [cell(entry[0]), cell(entry[1].nodes, "num nodes"), el("td", {}, [statusSpan(entry[1].status)])]);
		});
		fill($("services-body"), rows, "This gateway does not report the services it routes to.", 3);
	}

	/** "MOL-ns.EVENTB.goals.client.updated" → "client.updated" (the consumer is in its own column). */
	function shortQueue(name) {
		var match = /\\.EVENTB\\.[^.]+\\.(.+)$/.exec(name);
		return match ? match[1] : name;
	}

	function renderQueues(components, now) {
		var present = new Map();
		var reported = isObject(components.consumers);
		entries(components.consumers).forEach(function (entry) {
			entries(entry[1].queues).forEach(function (queue) {
				present.set(queue[0], { consumer: entry[0], messages: queue[1].messages, consumers: queue[1].consumers });
			});
		});
		// the queues this node consumes itself (none on a gateway-only node)
		entries(components.queues).forEach(function (queue) {
			if (!present.has(queue[0])) present.set(queue[0], { consumer: "this node", messages: queue[1].messages, consumers: queue[1].consumers });
		});
		track(state.queues, present, now, "queue", function (name, queue) { return shortQueue(name) + " of " + queue.consumer; });
		var rows = [];
		state.queues.forEach(function (queue, name) {
			var stateCell;
			if (queue.goneSince) stateCell = el("td", { text: "gone since " + hms(queue.goneSince), className: "state gone" });
			else if (queue.messages === null || queue.messages === undefined) stateCell = el("td", { text: "missing", className: "state down" });
			else if (!queue.consumers) stateCell = el("td", { text: "no consumer", className: "state warn" });
			else stateCell = el("td", { text: "consumed", className: "state up" });
			rows.push(el("tr", { className: queue.goneSince ? "gone" : "", attrs: { "data-queue": name } }, [
				el("td", { attrs: { title: name } }, [el("code", { text: shortQueue(name) })]),
				cell(queue.consumer),
				cell(queue.messages, "num messages"),
				cell(queue.consumers, "num consumers"),
				stateCell,
			]));
		});
		fill($("queues-body"), rows, reported ? "No queue reported (not on AMQP?)." : "This gateway does not report its cluster's queues.", 5);
	}

	function renderConsumers(component) {
		var rows = entries(component).map(function (entry) {
			var c = entry[1];
			var lagClass = "num lag" + (c.lag > 0 ? " warn" : "");
			return el("tr", { attrs: { "data-consumer": entry[0] } }, [
				cell(entry[0]),
				cell(c.producer),
				cell(c.head, "num head"),
				cell(c.checkpoint, "num checkpoint"),
				cell(c.lag, lagClass),
				cell(c.pendingRetries, "num retries" + (c.pendingRetries > 0 ? " warn" : "")),
				cell(c.deadLetters, "num dead-letters" + (c.deadLetters > 0 ? " down" : "")),
				cell(c.reported, "reported" + (c.reported === "live" ? "" : " warn")),
			]);
		});
		fill($("consumers-body"), rows, "This gateway does not report its cluster's consumers.", 8);
		var dead = entries(component).reduce(function (sum, entry) { return sum + (typeof entry[1].deadLetters === "number" ? entry[1].deadLetters : 0); }, 0);
		$("dl-count").textContent = entries(component).length ? dead + " dead letter" + (dead === 1 ? "" : "s") + " reported by the consumers." : "";
	}

	function renderRelays(component) {
		var rows = entries(component).map(function (entry) {
			var r = entry[1];
			return el("tr", { attrs: { "data-relay": entry[0] } }, [
				cell(r.producer),
				cell(r.head, "num head"),
				cell(r.checkpoint, "num checkpoint"),
				cell(r.lag, "num lag" + (r.lag > 0 ? " warn" : "")),
				cell(r.reported, "reported" + (r.reported === "live" || r.reported === "off" ? "" : " warn")),
			]);
		});
		fill($("relays-body"), rows, "This gateway does not report its cluster's relays.", 5);
	}

	function renderComponents(components) {
		var rows = Object.keys(components).map(function (name) {
			var c = components[name] || {};
			var detail = c.type !== undefined ? String(c.type) : c.enabled !== undefined ? (c.enabled ? "enabled" : "off") : "";
			return el("tr", {}, [cell(name), el("td", {}, [statusSpan(String(c.status))]), cell(detail)]);
		});
		fill($("components-body"), rows, "No component.", 3);
	}

	// --- throughput: the change of each producer's log head between two answers ---

	function sample(component, now) {
		var heads = {};
		entries(component).forEach(function (entry) {
			if (typeof entry[1].head === "number" && entry[1].producer) heads[entry[1].producer] = entry[1].head;
		});
		state.samples.push({ t: now.getTime(), heads: heads });
		while (state.samples.length > 2 && now.getTime() - state.samples[0].t > WINDOW_MS + REFRESH_MS) state.samples.shift();
	}

	/** producer → [{t, rate}] in events per second */
	function rates() {
		var series = {};
		for (var i = 1; i < state.samples.length; i++) {
			var a = state.samples[i - 1];
			var b = state.samples[i];
			var seconds = (b.t - a.t) / 1000;
			Object.keys(b.heads).forEach(function (producer) {
				series[producer] = series[producer] || [];
				if (a.heads[producer] === undefined || seconds <= 0) return;
				// a head that went back (a producer's log reset) is no negative throughput
				series[producer].push({ t: b.t, rate: Math.max(0, b.heads[producer] - a.heads[producer]) / seconds });
			});
		}
		return series;
	}

	function niceCeiling(value) {
		var steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
		for (var i = 0; i < steps.length; i++) if (value <= steps[i]) return steps[i];
		return Math.ceil(value);
	}

	function svg(tag, attrs, text) {
		var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
		Object.keys(attrs).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
		if (text !== undefined) node.textContent = text;
		return node;
	}

	function renderChart(now) {
		var chart = $("chart");
		var W = 600, H = 140, left = 44, right = 8, top = 8, bottom = 20;
		var series = rates();
		var producers = Object.keys(series).sort();
		var max = 0;
		producers.forEach(function (p) { series[p].forEach(function (point) { max = Math.max(max, point.rate); }); });
		var yMax = niceCeiling(max);
		var end = now.getTime();
		var x = function (t) { return left + ((t - (end - WINDOW_MS)) / WINDOW_MS) * (W - left - right); };
		var y = function (rate) { return top + (1 - rate / yMax) * (H - top - bottom); };
		var parts = [
			svg("line", { x1: left, y1: y(0), x2: W - right, y2: y(0), stroke: "#8c959f" }),
			svg("line", { x1: left, y1: y(yMax), x2: W - right, y2: y(yMax), stroke: "#d0d7de", "stroke-dasharray": "3 3" }),
			svg("text", { x: left - 4, y: y(yMax) + 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" }, yMax + "/s"),
			svg("text", { x: left - 4, y: y(0) + 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" }, "0"),
			svg("text", { x: left, y: H - 4, "font-size": 11, fill: "#57606a" }, "2 min ago"),
			svg("text", { x: W - right, y: H - 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" }, "now"),
		];
		var legend = [];
		var said = [];
		producers.forEach(function (producer, index) {
			var color = COLORS[index % COLORS.length];
			var points = series[producer].filter(function (point) { return point.t >= end - WINDOW_MS; });
			if (points.length > 0) {
				parts.push(svg("polyline", {
					points: points.map(function (point) { return x(point.t).toFixed(1) + "," + y(point.rate).toFixed(1); }).join(" "),
					fill: "none", stroke: color, "stroke-width": 2,
				}));
			}
			var last = points.length ? points[points.length - 1].rate : 0;
			var text = producer + " events: " + last.toFixed(1) + "/s";
			said.push(text);
			var swatch = el("span", { className: "swatch", attrs: { "aria-hidden": "true" } });
			// a CSSOM property, which the page's CSP allows (a style attribute would not be)
			swatch.style.background = color;
			legend.push(el("span", { attrs: { "data-producer": producer } }, [swatch, document.createTextNode(text)]));
		});
		chart.replaceChildren.apply(chart, parts);
		chart.setAttribute("aria-label", "Events per second over the last 2 minutes, by producer" + (said.length ? ": " + said.join("; ") : ": no producer reported yet"));
		var legendBox = $("legend");
		legendBox.replaceChildren.apply(legendBox, legend.length ? legend : [el("span", { text: "No producer's log head reported yet.", className: "muted" })]);
	}

	function renderBanner(httpStatus, readiness) {
		var banner = $("banner");
		var main = document.querySelector("main");
		if (state.unreachableSince) {
			banner.className = "down";
			banner.textContent = "Gateway unreachable since " + hms(state.unreachableSince) +
				(state.lastAnswerAt ? "; the figures below are its last answer, at " + hms(state.lastAnswerAt) + "." : "; no answer yet.");
			main.className = "stale";
			return;
		}
		main.className = "";
		var components = readiness.components;
		var notUp = Object.keys(components).filter(function (name) { return (components[name] || {}).status !== "UP"; });
		if (readiness.status === "UP") {
			banner.className = "up";
			banner.textContent = "Ready: every component is UP (HTTP " + httpStatus + ").";
		} else if (readiness.status === "DEGRADED") {
			// still in the load balancer: only the routes of the services without a live node fail
			var missing = entries(components.services).filter(function (entry) { return entry[1].status !== "UP"; }).map(function (entry) { return entry[0]; });
			banner.className = "warn";
			banner.textContent = "Degraded (HTTP " + httpStatus + "): " + (missing.length ? "no live node for " + missing.join(", ") + "; " + (missing.length === 1 ? "its" : "their") + " routes answer 503, the others are served." : notUp.join(", ") + " DEGRADED.");
		} else {
			banner.className = "down";
			banner.textContent = "Not ready (HTTP " + httpStatus + "): " +
				(notUp.length ? notUp.map(function (name) { return name + " " + (components[name] || {}).status; }).join(", ") + "." : "the gateway has not started every service.");
		}
	}

	function render(httpStatus, readiness, now) {
		var components = readiness.components;
		renderBanner(httpStatus, readiness);
		renderNodes(components.nodes, now);
		renderServices(components.services);
		renderQueues(components, now);
		renderConsumers(components.consumers);
		renderRelays(components.relays);
		renderComponents(components);
		sample(components.consumers, now);
		renderChart(now);
		$("updated").textContent = "Status " + readiness.status + " · updated " + hms(now) + " · every " + REFRESH_MS / 1000 + " s";
	}

	// --- dead letters (admin token, this tab only) ---

	function say(id, text) { $(id).textContent = text; }

	function showTokenForm(message) {
		var has = !!token();
		$("token-form").hidden = has;
		$("forget-token").hidden = !has;
		$("dl-table").hidden = !has;
		say("token-message", message || "");
		if (!has && message) $("token-input").focus();
	}

	function refused(status, body) {
		if (status === 401) {
			try { sessionStorage.removeItem(TOKEN_KEY); } catch (err) { /* nothing kept */ }
			showTokenForm("The gateway refused that token (401). Enter the admin token again.");
			return true;
		}
		if (status === 429) {
			say("dl-error", "Too many refused tokens from this address (429): wait a minute, then try again.");
			return true;
		}
		return false;
	}

	function eventSummary(event) {
		if (!isObject(event)) return "";
		var id = event.clientId !== undefined ? "client " + event.clientId : event.goalId !== undefined ? "goal " + event.goalId : "";
		return [event.source, event.eventType, id, event.sequence !== undefined ? "sequence " + event.sequence : ""].filter(Boolean).join(" ");
	}

	function renderDeadLetters(page) {
		var rows = page.rows.map(function (letter) {
			var button = el("button", { text: "Retry", attrs: { type: "button", "aria-label": "Retry dead letter " + letter.id, "data-retry": letter.id } });
			button.addEventListener("click", function () { retry(letter.id, button); });
			var details = el("details", {}, [el("summary", { text: eventSummary(letter.event) || "event" }), el("pre", { text: JSON.stringify(letter.event, null, 2) })]);
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
		say("dl-caption", page.total > page.rows.length ? "The first " + page.rows.length + " of " + page.total + "." : page.total + " in all.");
	}

	async function loadDeadLetters() {
		if (!token()) return;
		try {
			var res = await call("GET", "admin/dead-letters?page=1&pageSize=100", true);
			if (refused(res.status, res.body)) return;
			if (res.status !== 200 || !res.body || !Array.isArray(res.body.rows)) {
				say("dl-error", "Could not list the dead letters (HTTP " + res.status + (res.body && res.body.message ? ": " + res.body.message : "") + ").");
				return;
			}
			say("dl-error", "");
			renderDeadLetters(res.body);
		} catch (err) {
			say("dl-error", "Could not list the dead letters: the gateway did not answer.");
		}
	}

	async function retry(id, button) {
		if (!token()) {
			state.pendingRetry = id;
			showTokenForm("Enter the admin token to retry " + id + ".");
			return;
		}
		if (button) button.disabled = true;
		try {
			var res = await call("POST", "admin/dead-letters/" + encodeURIComponent(id) + "/retry", true);
			if (refused(res.status, res.body)) { state.pendingRetry = id; return; }
			if (res.status === 200) say("dl-message", "Dead letter " + id + " sent back to its consumer at " + hms(new Date()) + ".");
			else if (res.status === 404) say("dl-message", id + " is no longer a dead letter.");
			else say("dl-message", "Retry of " + id + " failed (HTTP " + res.status + (res.body && res.body.message ? ": " + res.body.message : "") + ").");
		} catch (err) {
			say("dl-message", "Retry of " + id + ": the gateway did not answer (it may or may not have been retried).");
		} finally {
			if (button) button.disabled = false;
		}
		await loadDeadLetters();
	}

	$("token-form").addEventListener("submit", function (event) {
		event.preventDefault();
		var input = $("token-input");
		var value = input.value.trim();
		if (!value) return;
		try { sessionStorage.setItem(TOKEN_KEY, value); } catch (err) { say("token-message", "This browser keeps nothing for the tab: the token cannot be used."); return; }
		input.value = "";
		showTokenForm("");
		var pending = state.pendingRetry;
		state.pendingRetry = null;
		if (pending) retry(pending, null); else loadDeadLetters();
	});

	$("forget-token").addEventListener("click", function () {
		try { sessionStorage.removeItem(TOKEN_KEY); } catch (err) { /* nothing kept */ }
		$("dl-body").replaceChildren();
		say("dl-caption", "");
		say("dl-error", "");
		say("dl-message", "");
		showTokenForm("");
	});

	// --- the loop ---

	async function refresh() {
		var now = new Date();
		try {
			var res = await call("GET", "ready", false);
			// 503 carries the same body when something is DOWN: still shown
			if (!isObject(res.body) || !isObject(res.body.components)) throw new Error("no readiness body");
			state.unreachableSince = null;
			state.lastAnswerAt = now;
			render(res.status, res.body, now);
		} catch (err) {
			if (!state.unreachableSince) state.unreachableSince = now;
			renderBanner(0, null);
		}
		await loadDeadLetters();
		setTimeout(refresh, REFRESH_MS);
	}

	showTokenForm("");
	refresh();
})();
`;

const HTML_BODY = `
<header>
	<h1>Operations</h1>
	<p id="updated" class="muted">Waiting for the first answer of /api/ready…</p>
</header>
<p id="banner" role="status" aria-live="polite"></p>
<noscript><p>This page needs JavaScript: it reads <a href="../api/ready">/api/ready</a> every 2 seconds.</p></noscript>
<main>
	<section aria-labelledby="nodes-title">
		<h2 id="nodes-title">Nodes</h2>
		<table>
			<caption id="nodes-caption"></caption>
			<thead><tr><th scope="col">Node</th><th scope="col">Services</th><th scope="col">Serving this page</th><th scope="col">State</th></tr></thead>
			<tbody id="nodes-body"></tbody>
		</table>
	</section>
	<section aria-labelledby="changes-title">
		<h2 id="changes-title">Gone and back</h2>
		<ul id="changes"><li class="muted">Nothing has gone away since this page was opened.</li></ul>
	</section>
	<section aria-labelledby="queues-title">
		<h2 id="queues-title">Queues</h2>
		<table>
			<caption>Durable event queues, shared by each consumer's replicas: messages waiting and consumers attached (RabbitMQ).</caption>
			<thead><tr><th scope="col">Queue</th><th scope="col">Consumer</th><th scope="col" class="num">Messages</th><th scope="col" class="num">Consumers</th><th scope="col">State</th></tr></thead>
			<tbody id="queues-body"></tbody>
		</table>
	</section>
	<section aria-labelledby="consumers-title">
		<h2 id="consumers-title">Consumers</h2>
		<table>
			<caption>Lag: the producer's last event-log sequence (head) minus the consumer's checkpoint. "last known": no replica answered now.</caption>
			<thead><tr><th scope="col">Consumer</th><th scope="col">Producer</th><th scope="col" class="num">Head</th><th scope="col" class="num">Checkpoint</th><th scope="col" class="num">Lag</th><th scope="col" class="num">Pending retries</th><th scope="col" class="num">Dead letters</th><th scope="col">Reported</th></tr></thead>
			<tbody id="consumers-body"></tbody>
		</table>
	</section>
	<section aria-labelledby="relays-title">
		<h2 id="relays-title">Relays to the AMQP stream</h2>
		<table>
			<caption>Each producer's event log published to microservice.events for programs outside Moleculer. Lag: head minus the last sequence RabbitMQ confirmed. "off": no relay (no AMQP, or EVENT_STREAM=off).</caption>
			<thead><tr><th scope="col">Producer</th><th scope="col" class="num">Head</th><th scope="col" class="num">Checkpoint</th><th scope="col" class="num">Lag</th><th scope="col">Reported</th></tr></thead>
			<tbody id="relays-body"></tbody>
		</table>
	</section>
	<section aria-labelledby="chart-title">
		<h2 id="chart-title">Event throughput</h2>
		<svg id="chart" viewBox="0 0 600 140" role="img" aria-label="Events per second over the last 2 minutes"></svg>
		<div id="legend" class="legend"></div>
	</section>
	<section aria-labelledby="services-title">
		<h2 id="services-title">Services</h2>
		<table>
			<thead><tr><th scope="col">Service</th><th scope="col" class="num">Live nodes</th><th scope="col">Status</th></tr></thead>
			<tbody id="services-body"></tbody>
		</table>
		<h2 id="components-title">Components of this gateway</h2>
		<table aria-labelledby="components-title">
			<thead><tr><th scope="col">Component</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead>
			<tbody id="components-body"></tbody>
		</table>
	</section>
	<section class="wide" aria-labelledby="dl-title">
		<h2 id="dl-title">Dead letters</h2>
		<p id="dl-count" class="muted"></p>
		<form id="token-form" autocomplete="off">
			<label for="token-input">Admin token</label>
			<input id="token-input" name="token" type="password" autocomplete="off" required>
			<button type="submit">Use token</button>
			<span class="muted">Listing and retrying need ADMIN_TOKEN; it is kept for this tab only.</span>
		</form>
		<p id="token-message" class="warn" role="alert"></p>
		<p><button id="forget-token" type="button" hidden>Forget the token</button></p>
		<p id="dl-error" class="warn" role="alert"></p>
		<p id="dl-message" role="status"></p>
		<table id="dl-table" hidden>
			<caption id="dl-caption"></caption>
			<thead><tr><th scope="col">Id</th><th scope="col">Consumer</th><th scope="col" class="num">Attempts</th><th scope="col">Last error</th><th scope="col">Failed at</th><th scope="col">Event</th><th scope="col">Action</th></tr></thead>
			<tbody id="dl-body"></tbody>
		</table>
	</section>
</main>
`;

export const OPS_HTML = `<!doctype html>
<html lang="en">
<head>
	<meta charset="utf-8">
	<title>Operations · Clients &amp; Goals</title>
	<meta name="viewport" content="width=device-width, initial-scale=1">
	<link rel="icon" href="data:,">
	<style>${STYLE}</style>
</head>
<body>${HTML_BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/**
 * Only this page's own script and style run (by hash); it may fetch from its own origin only,
 * load nothing else, and be framed by no one. The page handles the admin token: no injected
 * script may read it.
 */
export const OPS_CSP = [
	"default-src 'none'",
	`script-src ${sha256(SCRIPT)}`,
	`style-src ${sha256(STYLE)}`,
	"connect-src 'self'",
	"img-src data:",
	"base-uri 'none'",
	"form-action 'none'",
	"frame-ancestors 'none'",
].join("; ");

/** The headers the page is sent with. */
export const OPS_HEADERS: Record<string, string> = {
	"Content-Security-Policy": OPS_CSP,
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy": "no-referrer",
	// it changes with the program only, but holds nothing worth a stale copy
	"Cache-Control": "no-cache",
};
