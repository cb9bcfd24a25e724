/**
 * The API reference and the operations page in headless Chromium (issue 11, must-show 2), against
 * a real cluster: a gateway with ADMIN_TOKEN, a clients node and two goals replicas, over
 * RabbitMQ, Redis and PostgreSQL. What the tests read is what a person sees: the page's DOM.
 *
 * - `/api/docs` renders every operation of the document, with no console error, no failed
 *   request and no error answer.
 * - `/ops/` shows the live nodes with their services, every event queue with its consumers and
 *   each producer's relay to the AMQP stream;
 *   with the goals replicas stopped, the gateway is shown degraded (HTTP 200, goals without a live
 *   node), the goal consumer's client.updated queue deepens 0 → 5 → 10
 *   as clients are renamed through REST, its lag grows, and both replicas are shown gone; started
 *   again, they are back and the queue drains to 0.
 * - A client change whose handler fails on both replicas (fault injection) becomes a dead letter;
 *   the page counts it, lists it once the admin token is typed into it, and its Retry button
 *   has the consumer apply it (checked through the admin API and the goal service's database).
 * - No console error in all of that, but one the browser itself logs: an answer of /api/ready
 *   with status 503 ("Failed to load resource"), which is what the gateway answers until it has
 *   seen a node of every service it routes to (the page may open in that moment), and which the
 *   page must render; never one while goals is stopped later (DEGRADED is a 200).
 * - With the gateway stopped, the page says it cannot be reached.
 *
 * SCREENSHOTS=1 writes docs/api-docs.png, docs/ops-page.png and docs/ops-dead-letter.png.
 */
import type { Browser, Page } from "playwright-core";
import { CONSUMERS, consumerQueueNames } from "../../lib/constants";
import { publicNodeName } from "../../lib/infra/readiness";
import { ADMIN_ROUTES, OPS_ROUTES, ROUTES } from "../../lib/http/routes";
import { describeWithBrowser, launchBrowser, type PageTrouble, screenshot, watchPage } from "../helpers/browser";
import { Cluster } from "../helpers/cluster";
import { client, request } from "../helpers/http";
import { describeWithInfra } from "../helpers/infra";
import { type NodeProcess, replFaults } from "../helpers/node-process";
import { waitFor } from "../helpers/wait";

jest.setTimeout(180_000);

const ADMIN_TOKEN = "browser-test-admin-token-0123456789abcdef";
/** goals replicas: fault injection (set through their own REPL) for the dead letter */
const GOALS_ENV = { FAULT_INJECTION: "1" };

/** The text of the first element `selector` matches, or null. */
async function textOf(page: Page, selector: string): Promise<string | null> {
	const element = page.locator(selector).first();
	if ((await element.count()) === 0) return null;
	return ((await element.textContent({ timeout: 1000 })) ?? "").trim();
}

/** Poll the page until `selector`'s text passes `check`, within a deadline; returns the text. */
async function waitForText(page: Page, selector: string, check: (text: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
	let last: string | null = null;
	try {
		return await waitFor(
			async () => {
				last = await textOf(page, selector);
				return last !== null && check(last) ? last : null;
			},
			{ timeoutMs, intervalMs: 250, what },
		);
	} catch (err) {
		throw new Error(`${(err as Error).message} (last text of ${selector}: ${JSON.stringify(last)})`);
	}
}

/** What the watched page did wrong, apart from the browser's record of a 503 from /api/ready. */
function unexpected(trouble: PageTrouble): Record<string, unknown[]> {
	return {
		console: trouble.console.filter((message) => !isReadyDown(message.text, message.url)),
		pageErrors: trouble.pageErrors,
		failedRequests: trouble.failedRequests,
		errorAnswers: trouble.errorAnswers.filter((answer) => !(answer.status === 503 && answer.url.endsWith("/api/ready"))),
	};
}

/** The answers of /api/ready with status 503 the page has had so far. */
function readyDownAnswers(trouble: PageTrouble): number {
	return trouble.errorAnswers.filter((answer) => answer.status === 503 && answer.url.endsWith("/api/ready")).length;
}

function isReadyDown(text: string, url: string): boolean {
	return url.endsWith("/api/ready") && text === "Failed to load resource: the server responded with a status of 503 (Service Unavailable)";
}

const NONE = { console: [], pageErrors: [], failedRequests: [], errorAnswers: [] };

/** The goal consumer's row: wait until it shows, live, a head and a checkpoint both at `sequence` (lag 0). */
async function goalsAppliedUpTo(page: Page, sequence: number): Promise<void> {
	const row = 'tr[data-consumer="goals"]';
	await waitFor(
		async () => {
			const [head, checkpoint, reported] = await Promise.all(["head", "checkpoint", "reported"].map((name) => textOf(page, `${row} td.${name}`)));
			return Number(head) === sequence && Number(checkpoint) === sequence && reported === "live";
		},
		{ timeoutMs: 30_000, intervalMs: 250, what: `the page to show the goal consumer at sequence ${sequence}` },
	);
}

describeWithBrowser("pages in headless Chromium", () => {
	describeWithInfra(["rabbitmq", "redis", "postgres"], "against a running cluster", () => {
		const cluster = new Cluster({ ADMIN_TOKEN });
		const goals = new Map<string, NodeProcess>();
		let apiUrl = "";
		let root = "";
		let api: ReturnType<typeof client>;
		let browser: Browser;

		const admin = (method: string, path: string) =>
			request(method, `${apiUrl}/admin${path}`, undefined, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

		/** The clients log's sequence of a client's latest event. */
		async function lastSequence(clientId: number): Promise<number> {
			const events = await api.get<Array<{ sequence: number }>>(`/clients/${clientId}/events`);
			expect(events.status).toBe(200);
			return events.body[events.body.length - 1].sequence;
		}

		async function startGoals(name: string): Promise<void> {
			goals.set(name, await cluster.start(name, "goals", GOALS_ENV, { repl: true }));
		}

		beforeAll(async () => {
			await cluster.setUp();
			await cluster.start("clients-1", "clients");
			await startGoals("goals-1");
			await startGoals("goals-2");
			apiUrl = await cluster.startApi("api-1");
			root = apiUrl.replace(/\/api$/, "");
			api = client(apiUrl);
			browser = await launchBrowser();
		}, 120_000);

		afterAll(async () => {
			await browser?.close();
			await cluster.tearDown();
		}, 60_000);

		test("/api/docs renders every operation of the document, without a console error or a failed request", async () => {
			const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
			const trouble = watchPage(page);
			await page.goto(`${root}/api/docs`);
			const operations = Object.keys(ROUTES).length + Object.keys(ADMIN_ROUTES).length + Object.keys(OPS_ROUTES).length;
			await waitFor(async () => (await page.locator(".opblock").count()) === operations, { timeoutMs: 20_000, what: `${operations} operations rendered` });
			const paths = await page.locator(".opblock-summary-path").allTextContents();
			expect(paths.map((text) => text.replace(/\u200b/g, ""))).toEqual(
				expect.arrayContaining(["/api/clients/{id}", "/api/admin/dead-letters/{id}/retry", "/ops/"]),
			);
			await screenshot(page, "api-docs.png");
			expect(trouble).toEqual(NONE);
			await page.close();
		});

		describe("/ops/", () => {
			let page: Page;
			let trouble: PageTrouble;
			const node = (name: string) => `tr[data-node="${publicNodeName(name)}"]`;
			const goalsQueues = () => consumerQueueNames(cluster.namespace, CONSUMERS.goals);
			const clientsQueues = () => consumerQueueNames(cluster.namespace, CONSUMERS.clients);
			const renamedQueue = () => `tr[data-queue="${goalsQueues().find((name) => name.endsWith(".client.updated"))}"]`;

			beforeAll(async () => {
				page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
				trouble = watchPage(page);
				await page.goto(`${root}/ops/`);
			});
			afterAll(() => page?.close());

			test("shows the live nodes with their services, and every event queue with its consumers", async () => {
				for (const [name, services] of [
					["api-1", "api"],
					["clients-1", "clients"],
					["goals-1", "goals"],
					["goals-2", "goals"],
				]) {
					await waitForText(page, `${node(name)} td.state`, (text) => text === "live", `${name} live`);
					expect(await textOf(page, `${node(name)} td.services`)).toBe(services);
				}
				expect(await textOf(page, `${node("api-1")} td:nth-child(3)`)).toBe("this gateway");
				// each goals queue is consumed by both replicas, each clients queue by the one clients node
				for (const [queues, consumers] of [
					[goalsQueues(), "2"],
					[clientsQueues(), "1"],
				] as const) {
					for (const queue of queues) {
						await waitForText(page, `tr[data-queue="${queue}"] td.consumers`, (text) => text === consumers, `${queue} with ${consumers} consumers`);
						expect(await textOf(page, `tr[data-queue="${queue}"] td.messages`)).toBe("0");
					}
				}
				expect(await page.locator("tr[data-queue]").count()).toBe(6);
				// each producer's relay to the AMQP stream, answered live, nothing behind
				for (const producer of ["clients", "goals"]) {
					await waitForText(page, `tr[data-relay="${producer}"] td.reported`, (text) => text === "live", `${producer}'s relay reported live`);
					expect(await textOf(page, `tr[data-relay="${producer}"] td.lag`)).toBe("0");
				}
				expect(await textOf(page, "#banner")).toMatch(/^Ready/);
				expect(unexpected(trouble)).toEqual(NONE);
			});

			test("with the goals replicas stopped, the gateway is degraded, the queue of renames deepens 0 → 5 → 10 and the lag grows; both are shown gone, then back", async () => {
				const created = await api.post("/clients", { name: "Renamed Often", email: `renamed-${cluster.namespace}@example.com` });
				expect(created.status).toBe(201);
				const id = created.body.id as number;
				// the goal consumer has applied it (the page shows its checkpoint at the creation's sequence)
				await goalsAppliedUpTo(page, await lastSequence(id));

				const downBefore = readyDownAnswers(trouble);
				await Promise.all([cluster.stop("goals-1"), cluster.stop("goals-2")]);
				await waitForText(page, `${node("goals-1")} td.state`, (text) => text.startsWith("gone since "), "goals-1 gone");
				await waitForText(page, `${node("goals-2")} td.state`, (text) => text.startsWith("gone since "), "goals-2 gone");
				await waitForText(page, "#changes", (text) => text.includes(`node ${publicNodeName("goals-1")} (goals) gone since`), "goals-1 gone in the changes");
				await waitForText(page, `${renamedQueue()} td.consumers`, (text) => text === "0", "no consumer on the renames queue");
				expect(await textOf(page, `${renamedQueue()} td.state`)).toBe("no consumer");
				expect(await textOf(page, `${renamedQueue()} td.messages`)).toBe("0");
				// one service missing: the gateway stays in the load balancer, only the goals routes fail
				await waitForText(
					page,
					"#banner",
					(text) => text === "Degraded (HTTP 200): no live node for goals; its routes answer 503, the others are served.",
					"the gateway degraded",
				);
				expect(await textOf(page, 'tr[data-service="goals"] td:nth-child(3)')).toBe("DOWN");
				expect(await textOf(page, 'tr[data-service="clients"] td:nth-child(3)')).toBe("UP");

				const depths: string[] = ["0"];
				for (let batch = 1; batch <= 2; batch++) {
					for (let i = 0; i < 5; i++) expect((await api.put(`/clients/${id}`, { name: `Renamed ${batch}.${i}` })).status).toBe(200);
					const expected = String(batch * 5);
					depths.push(await waitForText(page, `${renamedQueue()} td.messages`, (text) => text === expected, `the renames queue at ${expected}`));
					await waitForText(page, 'tr[data-consumer="goals"] td.lag', (text) => text === expected, `goals lag ${expected}`);
				}
				expect(depths).toEqual(["0", "5", "10"]);
				expect(await textOf(page, 'tr[data-consumer="goals"] td.reported')).toBe("last known");
				await screenshot(page, "ops-page.png");

				await startGoals("goals-1");
				await startGoals("goals-2");
				await waitForText(page, `${renamedQueue()} td.messages`, (text) => text === "0", "the renames queue drained");
				await waitForText(page, 'tr[data-consumer="goals"] td.lag', (text) => text === "0", "goals lag back to 0");
				for (const name of ["goals-1", "goals-2"]) await waitForText(page, `${node(name)} td.state`, (text) => text === "live", `${name} live again`);
				expect(await textOf(page, "#changes")).toContain(`node ${publicNodeName("goals-2")} (goals) back at`);
				await waitForText(page, "#banner", (text) => text.startsWith("Ready"), "the gateway ready again");
				expect(unexpected(trouble)).toEqual(NONE);
				// not one 503 from /api/ready while goals was gone
				expect(readyDownAnswers(trouble)).toBe(downBefore);
			});

			test("a dead letter is counted, listed once the admin token is typed in, and retried through its button", async () => {
				const created = await api.post("/clients", { name: "Dead Letter", email: `dead-${cluster.namespace}@example.com` });
				expect(created.status).toBe(201);
				const id = created.body.id as number;
				// its creation applied first: the rule below is to fail the rename, not the creation
				await goalsAppliedUpTo(page, await lastSequence(id));
				for (const replica of goals.values()) await replFaults(replica, "goals", `apply:${id}:always`);
				expect((await api.put(`/clients/${id}`, { name: "Dead Letter Renamed" })).status).toBe(200);

				// three attempts (1 s, then 2 s apart), then a dead letter, counted by the consumer
				await waitForText(page, 'tr[data-consumer="goals"] td.dead-letters', (text) => text === "1", "one dead letter counted", 60_000);
				expect(await textOf(page, "#dl-count")).toBe("1 dead letter reported by the consumers.");
				expect(await page.locator("#dl-table").isVisible()).toBe(false);
				const listed = await admin("GET", "/dead-letters");
				expect(listed.body.total).toBe(1);
				const letterId = listed.body.rows[0].id as string;
				expect(listed.body.rows[0].event).toMatchObject({ clientId: id, eventType: "UPDATED", clientName: "Dead Letter Renamed" });

				// the token, typed in; kept for this tab only
				await page.fill("#token-input", ADMIN_TOKEN);
				await page.click("#token-form button[type=submit]");
				const row = `tr[data-dead-letter="${letterId}"]`;
				await waitForText(page, `${row} td:nth-child(2)`, (text) => text === "goals", `${letterId} listed`);
				// (an expression: this file is compiled without the DOM's types)
				expect(await page.evaluate("({ session: sessionStorage.length, local: localStorage.length, cookies: document.cookie })")).toEqual({
					session: 1,
					local: 0,
					cookies: "",
				});
				expect(await textOf(page, `${row} td:nth-child(3)`)).toBe("3");
				expect(await textOf(page, `${row} summary`)).toContain(`clients UPDATED client ${id}`);
				await screenshot(page, "ops-dead-letter.png");

				// the fault cleared, the button retries it: applied by the goal service, no dead letter left
				for (const replica of goals.values()) await replFaults(replica, "goals", "none");
				await page.getByRole("button", { name: `Retry dead letter ${letterId}` }).click();
				await waitForText(page, "#dl-message", (text) => text.startsWith(`Dead letter ${letterId} sent back to its consumer`), "the retry acknowledged");
				await waitFor(async () => (await page.locator(row).count()) === 0, { timeoutMs: 10_000, what: `${letterId} gone from the list` });
				await waitFor(
					async () => {
						const rows = await cluster.query<{ name: string }>("goals", `SELECT name FROM client_projection WHERE "clientId" = ${id}`);
						return rows[0]?.name === "Dead Letter Renamed";
					},
					{ timeoutMs: 20_000, what: "the goal service's copy renamed by the retried event" },
				);
				expect((await admin("GET", "/dead-letters")).body.total).toBe(0);
				await waitForText(page, 'tr[data-consumer="goals"] td.dead-letters', (text) => text === "0", "no dead letter counted");
				expect(await textOf(page, "#dl-body")).toBe("No dead letter.");
				expect(unexpected(trouble)).toEqual(NONE);
				// the only console errors: the browser's record of /api/ready answering 503 before the gateway had seen every service
				expect(trouble.console.every((message) => isReadyDown(message.text, message.url))).toBe(true);
			});

			test("with the gateway stopped, the page says it cannot be reached and keeps its last figures", async () => {
				await cluster.stop("api-1");
				const banner = await waitForText(page, "#banner", (text) => text.startsWith("Gateway unreachable since "), "the gateway unreachable");
				expect(banner).toMatch(/^Gateway unreachable since \d\d:\d\d:\d\d; the figures below are its last answer, at \d\d:\d\d:\d\d\.$/);
				expect(await page.locator("main.stale").count()).toBe(1);
				expect(await textOf(page, `${node("clients-1")} td.state`)).toBe("live");
				expect(trouble.pageErrors).toEqual([]);
			});
		});
	});
});
