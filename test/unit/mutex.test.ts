/** lib/mutex: a FIFO queue of async tasks, one at a time, that keeps going after a failure. */
import { Mutex } from "../../lib/mutex";

/** A promise settled from outside: the test decides when each task finishes, no timers. */
function deferred<T = void>() {
	let resolve!: (value: T) => void;
	let reject!: (err: unknown) => void;
	const promise = new Promise<T>((res, rej) => {
		resolve = res;
		reject = rej;
	});
	return { promise, resolve, reject };
}

/** Let every already-queued promise callback run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

test("runs tasks one at a time, in the order they were queued", async () => {
	const mutex = new Mutex();
	const log: string[] = [];
	const gates = [deferred(), deferred(), deferred()];
	const results = gates.map((gate, i) =>
		mutex.run(async () => {
			log.push(`start ${i}`);
			await gate.promise;
			log.push(`end ${i}`);
			return i;
		}),
	);

	await flush();
	expect(log).toEqual(["start 0"]);
	// Finishing a later task's gate first changes nothing: task 1 has not started yet.
	gates[2].resolve();
	gates[1].resolve();
	await flush();
	expect(log).toEqual(["start 0"]);

	gates[0].resolve();
	await expect(Promise.all(results)).resolves.toEqual([0, 1, 2]);
	expect(log).toEqual(["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]);
});

test("a rejected task rejects its own caller only; the next task still runs", async () => {
	const mutex = new Mutex();
	const order: string[] = [];
	const failing = mutex.run(async () => {
		order.push("failing");
		throw new Error("boom");
	});
	const next = mutex.run(async () => {
		order.push("next");
		return "ok";
	});
	await expect(failing).rejects.toThrow("boom");
	await expect(next).resolves.toBe("ok");
	expect(order).toEqual(["failing", "next"]);
});

test("a task that throws synchronously does not break the queue either", async () => {
	const mutex = new Mutex();
	const sync = mutex.run((() => {
		throw new Error("sync boom");
	}) as () => Promise<void>);
	await expect(sync).rejects.toThrow("sync boom");
	await expect(mutex.run(async () => 42)).resolves.toBe(42);
});

test("a task queued while another is running waits for it even if queued later in the same tick", async () => {
	const mutex = new Mutex();
	const gate = deferred();
	let running = 0;
	let maxRunning = 0;
	const task = async () => {
		running++;
		maxRunning = Math.max(maxRunning, running);
		await gate.promise;
		running--;
	};
	const all = Promise.all(Array.from({ length: 5 }, () => mutex.run(task)));
	await flush();
	gate.resolve();
	await all;
	expect(maxRunning).toBe(1);
});
