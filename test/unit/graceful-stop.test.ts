/**
 * The signal rule (lib/infra/graceful-stop.ts): the first signal stops gracefully and exits 0 (1
 * if stopping failed); a second one while that runs exits at once with 130, unless it is the same
 * signal delivered twice at once. The clock is the test's.
 */
import { gracefulStop, REPEAT_AFTER_MS } from "../../lib/infra/graceful-stop";

function harness(stopAll: () => Promise<void>) {
	const exits: number[] = [];
	const said: string[] = [];
	const clock = { ms: 0 };
	const stop = gracefulStop({
		stopAll,
		now: () => clock.ms,
		info: (message) => said.push(message),
		warn: (message) => said.push(message),
		error: (message) => said.push(message),
		exit: (code) => exits.push(code),
	});
	return { stop, exits, said, clock };
}

test("given one signal, when the stop completes, then it exits 0", async () => {
	const { stop, exits } = harness(async () => undefined);
	await stop("SIGTERM");
	expect(exits).toEqual([0]);
});

test("given one signal, when the stop fails, then it exits 1", async () => {
	const { stop, exits, said } = harness(async () => {
		throw new Error("database did not close");
	});
	await stop("SIGTERM");
	expect(exits).toEqual([1]);
	expect(said).toContain("Stopping failed:");
});

test("given a stop in progress, when the same signal arrives again at once (npm forwarding Ctrl-C), then it is the same request", async () => {
	let finish: () => void = () => undefined;
	const { stop, exits, clock } = harness(() => new Promise<void>((resolve) => (finish = resolve)));
	const first = stop("SIGINT");
	clock.ms += REPEAT_AFTER_MS - 1;
	await stop("SIGINT");
	expect(exits).toEqual([]);
	finish();
	await first;
	expect(exits).toEqual([0]);
});

test("given a stop in progress, when a second signal comes later, then it exits 130 at once", async () => {
	let finish: () => void = () => undefined;
	const { stop, exits, said, clock } = harness(() => new Promise<void>((resolve) => (finish = resolve)));
	const first = stop("SIGTERM");
	clock.ms += REPEAT_AFTER_MS;
	await stop("SIGINT");
	expect(exits).toEqual([130]);
	expect(said.join("\n")).toContain("second signal");
	finish();
	await first;
});
