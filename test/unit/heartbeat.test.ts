/**
 * The liveness file of nodes without HTTP (lib/infra/heartbeat.ts), on a real temp file: written
 * at start and on every interval, gone on stop, and never inherited from an earlier life.
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { HEARTBEAT_MAX_AGE_MS, Heartbeat, heartbeatAge } from "../../lib/infra/heartbeat";
import { waitFor } from "../helpers/wait";

let dir = "";
let file = "";
const errors: Error[] = [];

beforeEach(() => {
	dir = mkdtempSync(path.join(os.tmpdir(), "cg-heartbeat-"));
	file = path.join(dir, "heartbeat");
	errors.length = 0;
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("a file left by an earlier life is removed at once: the node is not alive before its broker starts", () => {
	writeFileSync(file, "old\n");
	const heartbeat = new Heartbeat(file, (err) => errors.push(err));
	expect(existsSync(file)).toBe(false);
	expect(heartbeatAge(file)).toBeNull();
	void heartbeat.stop();
});

test("start writes the file and keeps it fresh; stop removes it and beats no more", async () => {
	const heartbeat = new Heartbeat(file, (err) => errors.push(err), 20);
	heartbeat.start();
	await waitFor(() => existsSync(file), { what: "the first beat" });
	// aged by hand: the next beats make it fresh again
	const old = new Date(Date.now() - 2 * HEARTBEAT_MAX_AGE_MS);
	utimesSync(file, old, old);
	await waitFor(() => (heartbeatAge(file) ?? Infinity) < HEARTBEAT_MAX_AGE_MS, { what: "a later beat" });

	await heartbeat.stop();
	expect(existsSync(file)).toBe(false);
	heartbeat.start(); // a signal during the broker's start: stop came first, start must not revive it
	await new Promise((resolve) => setImmediate(resolve));
	expect(existsSync(file)).toBe(false);
	expect(errors).toEqual([]);
});

test("a file that cannot be written is reported once per outage, not on every beat", async () => {
	const folder = path.join(dir, "folder");
	const heartbeat = new Heartbeat(path.join(folder, "heartbeat"), (err) => errors.push(err), 5);
	heartbeat.start();
	await waitFor(() => errors.length > 0, { what: "the first outage's report" });
	mkdirSync(folder);
	await waitFor(() => existsSync(path.join(folder, "heartbeat")), { what: "a beat after the folder is back" });
	expect(errors).toHaveLength(1); // the failed beats between the report and the recovery said nothing
	// the folder goes at once (a rename), then is deleted: removing it in place races the beats written into it every 5 ms (ENOTEMPTY)
	renameSync(folder, `${folder}-gone`);
	rmSync(`${folder}-gone`, { recursive: true, force: true, maxRetries: 5 });
	await waitFor(() => errors.length > 1, { what: "the second outage's report" });
	await heartbeat.stop();
	expect(errors).toHaveLength(2);
	expect(errors.map((err) => (err as NodeJS.ErrnoException).code)).toEqual(["ENOENT", "ENOENT"]);
});

test("heartbeatAge: null without a file, the file's age otherwise", () => {
	expect(heartbeatAge(file)).toBeNull();
	writeFileSync(file, "x\n");
	const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 10_000); // whole seconds: every filesystem keeps them
	utimesSync(file, at, at);
	expect(heartbeatAge(file, at.getTime() + 4_000)).toBe(4_000);
	expect(heartbeatAge(file, at.getTime() - 1_000)).toBe(0); // a clock step back is no negative age
});
