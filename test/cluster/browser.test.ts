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
 * - Operating the consumers from the page (issue 21), each outcome checked through the API: four
 *   dead letters made in two phases; the filter form lists exactly the letters each filter
 *   matches (consumer, event type, entity id, error text, first-failure window, state); an edit
 *   with a bad field shows the gateway's 422 naming it and changes nothing; a good edit is shown
 *   with its original and who made it, and Retry applies it (the goal's client name, by REST);
 *   "Retry all matching" replays exactly the filter's letters, "Discard all matching" discards
 *   the rest, each after a confirmation naming how many; the goal consumer paused (with a reason)
 *   and resumed with its buttons, its state, reason and since shown and in /api/ready.
 * - No console error in all of that, but one the browser itself logs: an answer of /api/ready
 *   with status 503 ("Failed to load resource"), which is what the gateway answers until it has
 *   seen a node of every service it routes to (the page may open in that moment), and which the
 *   page must render; never one while goals is stopped later (DEGRADED is a 200).
 * - With the gateway stopped, the page says it cannot be reached.
 *
 * SCREENSHOTS=1 writes docs/api-docs.png, docs/ops-page.png (the goal consumer paused from the
 * page, a rename waiting in its queue) and docs/ops-dead-letter.png (dead letters, one edited,
 * another open in the editor).
 */
import type { Browser, Page } from "playwright-core";
import { CONSUMERS, consumerQueueNames } from "../../lib/constants";
import { publicNodeName } from "../../lib/infra/readiness";
import { adminTokenId } from "../../lib/http/admin-auth";
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

/**
 * Take out of `trouble` one error answer a test caused on purpose (`status` from a URL ending in
 * `path`) and the browser's console line about it, both of which must be there: what is left is
 * still checked to be nothing.
 */
async function acknowledge(trouble: PageTrouble, status: number, path: string): Promise<void> {
	const line = `Failed to load resource: the server responded with a status of ${status}`;
	const [answer, logged] = await waitFor(
		() => {
			const found = [
				trouble.errorAnswers.findIndex((one) => one.status === status && one.url.endsWith(path)),
				trouble.console.findIndex((one) => one.url.endsWith(path) && one.text.startsWith(line)),
			];
			return found.every((index) => index >= 0) ? found : null;
		},
		{ timeoutMs: 5000, what: `the browser's record of the ${status} from ${path}` },
	);
	trouble.errorAnswers.splice(answer, 1);
	trouble.console.splice(logged, 1);
}

/** A dead letter as the admin API answers it, as far as these tests read it. */
interface Letter {
	id: string;
	consumer: string;
	state: string;
	failedAt: string;
	lastError: string;
	event: Record<string, unknown>;
	original?: Record<string, unknown>;
	edited?: { at: string; by: string };
}

/** What the filter form is given: its fields, the times as Dates. */
interface PageFilter {
	consumer?: string;
	eventType?: string;
	entityId?: number;
	error?: string;
	from?: Date;
	to?: Date;
	state?: string;
}

/** A time as a datetime-local field's value (the page runs in UTC): the shortest form, as the browser writes it. */
function localInputValue(date: Date): string {
	const [day, time] = date.toISOString().slice(0, -1).split("T");
	const trimmed = time.replace(/\.?0+$/, "");
	return `${day}T${trimmed.length === 8 && trimmed.endsWith(":00") ? trimmed.slice(0, 5) : trimmed}`;
}

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

		const admin = (method: string, path: string, body?: unknown) =>
			request(method, `${apiUrl}/admin${path}`, body, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

		/** The dead letters the admin API lists for `query` (state dead unless it says), sorted by id. */
		async function letters(query: Record<string, string | number> = {}): Promise<Letter[]> {
			const res = await admin(
				"GET",
				`/dead-letters?${new URLSearchParams({ pageSize: "100", ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])) })}`,
			);
			expect(res.status).toBe(200);
			return (res.body.rows as Letter[]).sort((a, b) => (a.id < b.id ? -1 : 1));
		}
		const idsOf = (rows: Letter[]) => rows.map((letter) => letter.id).sort();

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
				// in UTC: the times typed into the filter's datetime fields are the test's ISO times
				page = await browser.newPage({ viewport: { width: 1280, height: 900 }, timezoneId: "UTC" });
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
				expect(await textOf(page, `${row} td.state`)).toBe("dead");

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

			describe("operating the consumers from the page", () => {
				/** three clients whose events the goal consumer fails (fault injection), the second with a goal */
				let [one, two, three, goalOfTwo] = [0, 0, 0, 0];
				/** the four dead letters made: one's two renames, two's rename, three's deletion */
				let made: { oneV2: Letter; oneV3: Letter; twoV2: Letter; threeDeleted: Letter };
				/** between the two phases: oneV2 and twoV2 first failed before it, oneV3 and threeDeleted after */
				let mark: Date;

				/** Set the filter form to `filter` (every other field cleared) and apply it. */
				async function filterOnPage(filter: PageFilter): Promise<void> {
					await page.click("#dl-filter-clear");
					if (filter.consumer) await page.selectOption("#dl-filter select[name=consumer]", filter.consumer);
					if (filter.eventType) await page.selectOption("#dl-filter select[name=eventType]", filter.eventType);
					if (filter.entityId !== undefined) await page.fill("#dl-filter input[name=entityId]", String(filter.entityId));
					if (filter.error) await page.fill("#dl-filter input[name=error]", filter.error);
					if (filter.from) await page.fill("#dl-filter input[name=from]", localInputValue(filter.from));
					if (filter.to) await page.fill("#dl-filter input[name=to]", localInputValue(filter.to));
					if (filter.state) await page.selectOption("#dl-filter select[name=state]", filter.state);
					await page.click("#dl-filter button[type=submit]");
				}

				/** The ids of the dead letters the page lists, sorted. */
				async function listedOnPage(): Promise<string[]> {
					const rows = await page.locator("tr[data-dead-letter]").all();
					return (await Promise.all(rows.map((row) => row.getAttribute("data-dead-letter", { timeout: 1000 })))).map(String).sort();
				}

				/** Wait until the page says it shows `shown` and lists exactly the dead letters `ids`. */
				async function pageLists(ids: string[], shown: (text: string) => boolean, what: string): Promise<void> {
					let last: { shown: string | null; listed: string[] } = { shown: null, listed: [] };
					try {
						await waitFor(
							async () => {
								last = { shown: await textOf(page, "#dl-filter-shown"), listed: await listedOnPage() };
								return last.shown !== null && shown(last.shown) && JSON.stringify(last.listed) === JSON.stringify([...ids].sort());
							},
							{ timeoutMs: 15_000, intervalMs: 250, what },
						);
					} catch (err) {
						throw new Error(`${(err as Error).message} (wanted ${JSON.stringify(ids)}; last seen ${JSON.stringify(last)})`);
					}
				}

				const goalsRow = 'tr[data-consumer="goals"]';
				const clientName = async (goalId: number) => (await api.get<{ clientName: string }>(`/goals/${goalId}`)).body.clientName;

				beforeAll(async () => {
					const ids: number[] = [];
					for (const name of ["One", "Two", "Three"]) {
						const created = await api.post("/clients", { name: `Filter ${name}`, email: `filter-${name.toLowerCase()}-${cluster.namespace}@example.com` });
						expect(created.status).toBe(201);
						ids.push(created.body.id as number);
					}
					[one, two, three] = ids;
					const goal = await api.post("/goals", { clientId: two, goalName: "Two's goal", targetAmount: 10 });
					expect(goal.status).toBe(201);
					goalOfTwo = goal.body.id as number;
					// applied before the faults are set: they are to fail what follows, not the creations
					await goalsAppliedUpTo(page, await lastSequence(three));
					for (const replica of goals.values()) await replFaults(replica, "goals", `apply:${one},${two},${three}:always`);

					// phase 1: one and two renamed, each a dead letter after its three attempts
					expect((await api.put(`/clients/${one}`, { name: "Filter One v2" })).status).toBe(200);
					expect((await api.put(`/clients/${two}`, { name: "Filter Two Renamed" })).status).toBe(200);
					await waitFor(async () => ((await letters()).length === 2 ? true : null), { timeoutMs: 60_000, what: "phase 1's two dead letters" });
					mark = new Date();
					// phase 2: one renamed again, three deleted
					expect((await api.put(`/clients/${one}`, { name: "Filter One v3" })).status).toBe(200);
					expect((await api.del(`/clients/${three}`)).status).toBe(204);
					const all = await waitFor(
						async () => {
							const found = await letters();
							return found.length === 4 ? found : null;
						},
						{ timeoutMs: 60_000, what: "phase 2's two dead letters" },
					);
					const find = (entity: number, eventType: string, version: number) => {
						const found = all.find((letter) => letter.event.clientId === entity && letter.event.eventType === eventType && letter.event.version === version);
						if (!found) throw new Error(`no dead letter for client ${entity} ${eventType} v${version} in ${JSON.stringify(all)}`);
						return found;
					};
					made = { oneV2: find(one, "UPDATED", 2), oneV3: find(one, "UPDATED", 3), twoV2: find(two, "UPDATED", 2), threeDeleted: find(three, "DELETED", 2) };
					// the mark lies between the phases' first failures
					for (const letter of [made.oneV2, made.twoV2]) expect(new Date(letter.failedAt).getTime()).toBeLessThan(mark.getTime());
					for (const letter of [made.oneV3, made.threeDeleted]) expect(new Date(letter.failedAt).getTime()).toBeGreaterThanOrEqual(mark.getTime());
				}, 150_000);

				test("the filter form lists exactly the dead letters each filter matches, with their state", async () => {
					// the token typed in by the test before: the filter, the bulk buttons and the list are there
					await waitFor(async () => await page.locator("#dl-filter").isVisible(), { timeoutMs: 5000, what: "the filter form shown" });
					const { oneV2, oneV3, twoV2, threeDeleted } = made;
					const replayed = await letters({ state: "replayed" });
					expect(replayed).toHaveLength(1);
					const cases: Array<{ filter: PageFilter; query: Record<string, string | number>; want: Letter[]; shown: (text: string) => boolean }> = [
						{
							filter: {},
							query: {},
							want: [oneV2, oneV3, twoV2, threeDeleted],
							shown: (text) => text === "Dead letters waiting for an operator: all of them.",
						},
						{
							filter: { consumer: "goals", entityId: one },
							query: { consumer: "goals", entityId: one },
							want: [oneV2, oneV3],
							shown: (text) => text === `Dead letters waiting for an operator, matching consumer goals, entity id ${one}.`,
						},
						{
							filter: { eventType: "DELETED" },
							query: { eventType: "DELETED" },
							want: [threeDeleted],
							shown: (text) => text.endsWith("matching event type DELETED."),
						},
						{
							filter: { error: `Injected fault for entity ${two}` },
							query: { error: `Injected fault for entity ${two}` },
							want: [twoV2],
							shown: (text) => text.endsWith(`matching error containing "Injected fault for entity ${two}".`),
						},
						{
							filter: { from: mark },
							query: { from: mark.toISOString() },
							want: [oneV3, threeDeleted],
							shown: (text) => text.includes("first failed at or after "),
						},
						{ filter: { to: mark }, query: { to: mark.toISOString() }, want: [oneV2, twoV2], shown: (text) => text.includes("first failed before ") },
						{
							filter: { eventType: "UPDATED", from: mark, consumer: "goals" },
							query: { eventType: "UPDATED", from: mark.toISOString(), consumer: "goals" },
							want: [oneV3],
							shown: (text) => text.includes("consumer goals, event type UPDATED, first failed at or after "),
						},
						{ filter: { consumer: "clients" }, query: { consumer: "clients" }, want: [], shown: (text) => text.endsWith("matching consumer clients.") },
						{
							filter: { state: "replayed" },
							query: { state: "replayed" },
							want: replayed,
							shown: (text) => text === "Replayed dead letters (kept, then purged): all of them.",
						},
					];
					for (const { filter, query, want, shown } of cases) {
						// what the page should list is what the test made, and what the API answers for the same filter
						expect({ query, api: idsOf(await letters(query)) }).toEqual({ query, api: idsOf(want) });
						await filterOnPage(filter);
						await pageLists(idsOf(want), shown, `the page to list ${JSON.stringify(query)}`);
						expect(await textOf(page, "#dl-caption")).toBe(want.length ? `${want.length} in all.` : "");
						if (!want.length) expect(await textOf(page, "#dl-body")).toBe("No dead letter matches this filter.");
					}
					// the replayed one: its state, and nothing to do with it
					const kept = `tr[data-dead-letter="${replayed[0].id}"]`;
					expect(await textOf(page, `${kept} td.state`)).toBe("replayed");
					expect(await page.locator(`${kept} button`).count()).toBe(0);
					expect(await page.locator("#bulk-retry").isDisabled()).toBe(true);
					// the waiting ones, with Edit and Retry
					await filterOnPage({});
					await pageLists(idsOf([oneV2, oneV3, twoV2, threeDeleted]), (text) => text.endsWith("all of them."), "all four listed again");
					for (const letter of [oneV2, oneV3, twoV2, threeDeleted]) {
						const row = `tr[data-dead-letter="${letter.id}"]`;
						expect(await textOf(page, `${row} td.state`)).toBe("dead");
						expect(await page.locator(`${row} button`).allTextContents()).toEqual(["Edit", "Retry"]);
					}
					expect(await page.locator("#bulk-retry").isDisabled()).toBe(false);
					expect(unexpected(trouble)).toEqual(NONE);
				});

				test("an edit with a bad field shows the gateway's 422 naming it and changes nothing; a good edit is shown with its original, and Retry applies it", async () => {
					const letter = made.twoV2;
					const row = `tr[data-dead-letter="${letter.id}"]`;
					const editor = `tr[data-editor="${letter.id}"]`;
					await filterOnPage({ entityId: two });
					await pageLists([letter.id], (text) => text.endsWith(`matching entity id ${two}.`), "two's letter listed");
					await page.getByRole("button", { name: `Edit dead letter ${letter.id}`, exact: true }).click();
					const box = page.getByRole("textbox", { name: `Event of dead letter ${letter.id}, as JSON`, exact: true });
					expect(JSON.parse(await box.inputValue())).toEqual(letter.event);
					const save = page.getByRole("button", { name: `Save the edit of dead letter ${letter.id}`, exact: true });

					// not JSON: said so, nothing sent
					await box.fill('{ "clientName": ');
					await save.click();
					await waitForText(page, `${editor} .edit-error`, (text) => text.startsWith("Not JSON (") && text.endsWith("): nothing was sent."), "not JSON said");

					// a field its schema refuses: the gateway's 422, naming it, shown in the editor
					await box.fill(JSON.stringify({ ...letter.event, clientName: " Padded " }, null, 2));
					await save.click();
					const refusal = await waitForText(page, `${editor} .edit-error`, (text) => text.startsWith("Not saved (HTTP 422): "), "the 422 shown");
					expect(refusal).toMatch(/^Not saved \(HTTP 422\): The 'event\.clientName' field must not start or end with white space\. Nothing was changed\.$/);
					await acknowledge(trouble, 422, `/api/admin/dead-letters/${letter.id}`);
					// nothing changed: the letter as it was, in the API and on the page; the editor open with the text typed
					expect(await letters({ entityId: two })).toEqual([letter]);
					expect(await page.locator(`${row} p.edited`).count()).toBe(0);
					expect(JSON.parse(await box.inputValue())).toMatchObject({ clientName: " Padded " });

					// a good edit: saved, the row shows it, by the admin token's id, with the original beside it
					await box.fill(JSON.stringify({ ...letter.event, clientName: "Two Fixed" }, null, 2));
					await save.click();
					await waitForText(page, "#dl-message", (text) => text.startsWith(`Saved the edit of ${letter.id} at `), "the edit saved");
					const note = await waitForText(page, `${row} p.edited`, (text) => text.startsWith("Edited at "), "the edit shown in its row");
					expect(note).toMatch(new RegExp(`^Edited at \\d\\d:\\d\\d:\\d\\d by ${adminTokenId(ADMIN_TOKEN)}: clientName changed\\.$`));
					expect(JSON.parse((await textOf(page, `${row} details.original pre`)) ?? "")).toEqual(letter.event);
					expect(JSON.parse((await textOf(page, `${row} details.event pre`)) ?? "")).toEqual({ ...letter.event, clientName: "Two Fixed" });
					expect(await page.locator("tr[data-editor]").count()).toBe(0);
					const [edited] = await letters({ entityId: two });
					expect(edited).toMatchObject({
						id: letter.id,
						state: "dead",
						event: { ...letter.event, clientName: "Two Fixed" },
						original: letter.event,
						edited: { by: adminTokenId(ADMIN_TOKEN), at: expect.stringMatching(/Z$/) },
					});

					// for the documentation: every waiting letter, the edited one among them, another open in the editor
					await filterOnPage({});
					await pageLists(idsOf([made.oneV2, made.oneV3, made.twoV2, made.threeDeleted]), (text) => text.endsWith("all of them."), "all four listed");
					await page.locator(`${row} details.original summary`).click();
					await page.getByRole("button", { name: `Edit dead letter ${made.oneV3.id}`, exact: true }).click();
					await screenshot(page, "ops-dead-letter.png");
					await page.getByRole("button", { name: `Cancel the edit of dead letter ${made.oneV3.id}`, exact: true }).click();
					expect(await page.locator("tr[data-editor]").count()).toBe(0);

					// the fault cleared, Retry replays the event as edited: the goal's client name, by REST
					for (const replica of goals.values()) await replFaults(replica, "goals", "none");
					await page.getByRole("button", { name: `Retry dead letter ${letter.id}`, exact: true }).click();
					await waitForText(page, "#dl-message", (text) => text.startsWith(`Dead letter ${letter.id} sent back to its consumer`), "the retry acknowledged");
					await waitFor(async () => (await clientName(goalOfTwo)) === "Two Fixed", {
						timeoutMs: 20_000,
						what: "the edited event applied (the goal's client name)",
					});
					await waitFor(async () => (await letters({ state: "replayed", entityId: two })).length === 1, { timeoutMs: 10_000, what: "two's letter replayed" });
					expect((await letters({ state: "replayed", entityId: two }))[0]).toMatchObject({
						event: edited.event,
						original: letter.event,
						edited: edited.edited,
					});
					await waitFor(async () => (await page.locator(row).count()) === 0, { timeoutMs: 10_000, what: `${letter.id} gone from the list` });
					expect(unexpected(trouble)).toEqual(NONE);
				});

				test("Retry all matching replays exactly the filter's dead letters, Discard all matching discards the rest, each after a confirmation naming how many", async () => {
					const { oneV2, oneV3, threeDeleted } = made;
					expect(idsOf(await letters())).toEqual(idsOf([oneV2, oneV3, threeDeleted]));
					await filterOnPage({ consumer: "goals", entityId: one, error: "Injected fault" });
					await pageLists(
						idsOf([oneV2, oneV3]),
						(text) => text.includes(`consumer goals, entity id ${one}, error containing "Injected fault"`),
						"one's letters listed",
					);
					// asked first, with the list's count; Cancel does nothing
					await page.click("#bulk-retry");
					expect(await waitForText(page, "#bulk-question", (text) => text.length > 0, "the question")).toBe(
						`Retry all 2 dead letters matching consumer goals, entity id ${one}, error containing "Injected fault"? Each is sent back to its consumer with a fresh set of attempts.`,
					);
					await page.click("#bulk-no");
					expect(await page.locator("#bulk-confirm").isVisible()).toBe(false);
					expect(await letters()).toHaveLength(3);
					await page.click("#bulk-retry");
					expect(await textOf(page, "#bulk-yes")).toBe("Retry 2");
					await page.click("#bulk-yes");
					const said = await waitForText(page, "#dl-message", (text) => text.startsWith("Retried "), "the bulk retry's answer");
					expect(said).toMatch(
						new RegExp(
							`^Retried 2 dead letters matching consumer goals, entity id ${one}, error containing "Injected fault" at \\d\\d:\\d\\d:\\d\\d: sent back to their consumers\\.$`,
						),
					);
					// exactly those two replayed (applied: one's last name in the goal service's copy), three's deletion still waiting
					await waitFor(async () => (await letters({ state: "replayed", entityId: one })).length === 2, {
						timeoutMs: 30_000,
						what: "one's two letters replayed",
					});
					expect(idsOf(await letters({ state: "replayed", entityId: one }))).toEqual(idsOf([oneV2, oneV3]));
					expect(idsOf(await letters())).toEqual([threeDeleted.id]);
					await waitFor(
						async () =>
							(await cluster.query<{ name: string }>("goals", `SELECT name FROM client_projection WHERE "clientId" = ${one}`))[0]?.name === "Filter One v3",
						{ timeoutMs: 20_000, what: "one's renames applied to the goal service's copy" },
					);
					await waitForText(page, "#dl-body", (text) => text === "No dead letter matches this filter.", "the filter matches none now");

					// the rest, discarded: kept aside as discarded, none waiting
					await filterOnPage({});
					await pageLists([threeDeleted.id], (text) => text.endsWith("all of them."), "three's letter listed");
					await page.click("#bulk-discard");
					expect(await waitForText(page, "#bulk-question", (text) => text.length > 0, "the question")).toBe(
						"Discard the 1 dead letter waiting for an operator (no filter)? A discarded letter is not applied: it is kept as discarded for DEAD_LETTER_RETENTION_DAYS, then purged.",
					);
					expect(await textOf(page, "#bulk-yes")).toBe("Discard 1");
					await page.click("#bulk-yes");
					expect(await waitForText(page, "#dl-message", (text) => text.startsWith("Discarded "), "the bulk discard's answer")).toMatch(
						/^Discarded 1 dead letter at \d\d:\d\d:\d\d\.$/,
					);
					expect(idsOf(await letters({ state: "discarded" }))).toEqual([threeDeleted.id]);
					expect(await letters()).toEqual([]);
					await waitForText(page, "#dl-body", (text) => text === "No dead letter.", "none left");
					expect(await page.locator("#bulk-retry").isDisabled()).toBe(true);
					expect(unexpected(trouble)).toEqual(NONE);
				});

				test("the goal consumer paused with a reason and resumed with its buttons: its state, reason and since on the page and in /api/ready", async () => {
					const reason = `paused by an operator (${adminTokenId(ADMIN_TOKEN)}): copy maintenance`;
					await waitForText(page, `${goalsRow} td.state`, (text) => text === "running", "goals running");
					await page.getByRole("button", { name: "Pause consumer goals" }).click();
					expect(await textOf(page, "#pause-label")).toBe("Pause goals: reason (optional)");
					await page.fill("#pause-reason", "copy maintenance");
					await page.click("#pause-submit");
					await waitForText(page, "#consumer-message", (text) => text.startsWith("goals paused at "), "the pause acknowledged");
					await waitForText(page, `${goalsRow} td.state`, (text) => text === "paused", "goals shown paused");
					expect(await textOf(page, `${goalsRow} td.reason`)).toBe(reason);
					const ready = (await api.get("/ready")).body.components.consumers.goals;
					expect(ready).toMatchObject({ state: "paused", reason, since: expect.stringMatching(/Z$/) });
					expect(await textOf(page, `${goalsRow} td.since`)).toBe((ready.since as string).slice(11, 19));
					expect(await page.getByRole("button", { name: "Resume consumer goals" }).count()).toBe(1);
					// its queues have no consumer, on purpose; a rename waits in one
					await waitForText(page, `${renamedQueue()} td.state`, (text) => text === "paused", "the renames queue shown paused");
					expect((await api.put(`/clients/${two}`, { name: "Two While Paused" })).status).toBe(200);
					await waitForText(page, `${renamedQueue()} td.messages`, (text) => text === "1", "the rename waiting in its queue");
					await screenshot(page, "ops-page.png");
					expect(await clientName(goalOfTwo)).toBe("Two Fixed");

					await page.getByRole("button", { name: "Resume consumer goals" }).click();
					await waitForText(page, "#consumer-message", (text) => text.startsWith("goals resumed at "), "the resume acknowledged");
					await waitForText(page, `${goalsRow} td.state`, (text) => text === "running", "goals shown running");
					expect(await textOf(page, `${goalsRow} td.reason`)).toBe("–");
					expect((await api.get("/ready")).body.components.consumers.goals).toMatchObject({ state: "running", reason: null });
					await waitForText(page, `${renamedQueue()} td.messages`, (text) => text === "0", "the renames queue drained");
					await waitFor(async () => (await clientName(goalOfTwo)) === "Two While Paused", { timeoutMs: 20_000, what: "the waiting rename applied" });
					expect(await page.getByRole("button", { name: "Pause consumer goals" }).count()).toBe(1);
					expect(unexpected(trouble)).toEqual(NONE);
				});
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
