/**
 * Headless Chromium for tests that look at a page as a person would: Debian's `chromium`
 * package (no browser download: playwright-core drives the executable it is given). `.ci/run`
 * installs it when missing. Without it a suite is skipped with a loud notice, except with
 * CI=true, where it fails (as describeWithInfra does for the servers).
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** Screenshots are written only when asked (SCREENSHOTS=1), so that a test run does not rewrite the committed ones. */
export const SCREENSHOTS = process.env.SCREENSHOTS === "1";

const DOCS = path.resolve(__dirname, "../../docs");

/** `describe` when Chromium is installed; otherwise skipped loudly, or failed with CI=true. */
export function describeWithBrowser(title: string, body: () => void): void {
	if (existsSync(CHROMIUM_PATH)) {
		describe(title, body);
		return;
	}
	const why = `Chromium not found at ${CHROMIUM_PATH} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
	if (process.env.CI === "true") {
		describe(title, () => {
			test("needs Chromium", () => {
				throw new Error(`CI=true and ${why}`);
			});
		});
		return;
	}
	console.warn(`\n*** SKIPPED "${title}": ${why} (with CI=true this fails) ***\n`);
	describe.skip(title, body);
}

export function launchBrowser(): Promise<Browser> {
	return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true });
}

/** What went wrong on a page while it was watched: each list empty on a clean page. */
export interface PageTrouble {
	/** console messages of level error or warning, with where they came from */
	console: Array<{ type: string; text: string; url: string }>;
	/** uncaught exceptions in the page */
	pageErrors: string[];
	/** requests that got no answer (refused, aborted, blocked by the CSP) */
	failedRequests: string[];
	/** answers with a 4xx or 5xx status */
	errorAnswers: Array<{ status: number; url: string }>;
}

export function watchPage(page: Page): PageTrouble {
	const trouble: PageTrouble = { console: [], pageErrors: [], failedRequests: [], errorAnswers: [] };
	page.on("console", (message) => {
		if (message.type() === "error" || message.type() === "warning")
			trouble.console.push({ type: message.type(), text: message.text(), url: message.location().url });
	});
	page.on("pageerror", (error) => trouble.pageErrors.push(error.message));
	page.on("requestfailed", (request) => trouble.failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
	page.on("response", (response) => {
		if (response.status() >= 400) trouble.errorAnswers.push({ status: response.status(), url: response.url() });
	});
	return trouble;
}

/** A full-page screenshot into docs/ (when SCREENSHOTS=1); returns the file written, or null. */
export async function screenshot(page: Page, file: string): Promise<string | null> {
	if (!SCREENSHOTS) return null;
	mkdirSync(DOCS, { recursive: true });
	const target = path.join(DOCS, file);
	await page.screenshot({ path: target, fullPage: true });
	return target;
}
