/**
 * When the retry step looks at its table (lib/consumer/retry-runner.ts): a failure recorded while
 * a look is under way (another transaction committed after the look read the table) must still
 * bring the next look forward to its retry's time, not leave it to the idle look 5 s later.
 * The clock is given; the table is a stand-in that records when it is read (the step's own
 * schedule is what is under test, the table's SQL is test/integration/retries.test.ts's).
 */
import { CONSUMER_POLICY, type ConsumerDeps, type StepContext } from "../../lib/consumer/consumer-deps";
import { RetryRunner } from "../../lib/consumer/retry-runner";
import type { DomainEvent } from "../../lib/domain/events";

function runnerWithTable(duringRead: (runner: RetryRunner<DomainEvent>) => void) {
	let now = 1_000_000;
	const reads: number[] = [];
	const context: StepContext = { policy: CONSUMER_POLICY, now: () => now, stopping: () => false, paused: () => false };
	const table = {
		due: async () => {
			reads.push(now);
			duringRead(runner);
			return [] as number[];
		},
		nextDue: async () => null,
	};
	const runner: RetryRunner<DomainEvent> = new RetryRunner({ retries: table } as unknown as ConsumerDeps<DomainEvent>, context);
	return { runner, reads, advance: (ms: number) => (now += ms), at: () => now };
}

test("given a look under way, when a failure due in 1 s is recorded during it, then the next look is 1 s later, not at the idle look", async () => {
	let woken = false;
	const { runner, reads, advance } = runnerWithTable((self) => {
		if (!woken) {
			woken = true;
			self.wake(1000);
		}
	});
	await runner.process();
	expect(reads).toHaveLength(1);

	advance(999);
	await runner.process();
	expect(reads).toHaveLength(1);

	advance(1);
	await runner.process();
	expect(reads).toHaveLength(2);
});

test("given no failure, when a look finds nothing due, then the next look is the idle one", async () => {
	const { runner, reads, advance } = runnerWithTable(() => undefined);
	await runner.process();
	advance(CONSUMER_POLICY.retryIdleLookMs - 1);
	await runner.process();
	expect(reads).toHaveLength(1);
	advance(1);
	await runner.process();
	expect(reads).toHaveLength(2);
});

test("given a wake before a look, when the look runs, then it reads the table at once", async () => {
	const { runner, reads } = runnerWithTable(() => undefined);
	await runner.process();
	runner.wake(0);
	await runner.process();
	expect(reads).toHaveLength(2);
});
