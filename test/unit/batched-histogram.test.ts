import { ServiceBroker } from "moleculer";
import { BATCHED_HISTOGRAM, type BatchedHistogram } from "../../lib/infra/batched-histogram";

/** A snapshot without the times it was taken at (the two histograms are filled moments apart). */
function timeless(histogram: { snapshot(): unknown[] }): unknown[] {
	return histogram.snapshot().map((item) => ({ ...(item as Record<string, unknown>), timestamp: undefined }));
}

describe("BatchedHistogram.observeMany", () => {
	const broker = new ServiceBroker({ logger: false, metrics: { enabled: true } });
	const options = { labelNames: ["action"], buckets: [1, 5, 10, 100], quantiles: true, rate: true, unit: "millisecond" };
	const batched = broker.metrics.register({ name: "test.batched", type: BATCHED_HISTOGRAM, ...options } as never) as unknown as BatchedHistogram;
	const single = broker.metrics.register({ name: "test.single", type: "histogram", ...options });

	afterAll(() => broker.stop());

	test("given values in every bucket, past the last and on a bound, when observed at once, then the snapshot is what one by one gives", () => {
		// bounds 1, 5, 10, 100: 0.2 and 1 (on the bound) in the first; 250 in none but +Inf
		const values = [0.2, 1, 3, 5.5, 10, 42, 99.9, 250, 0.7];
		for (const value of values) single?.observe(value, { action: "a" });
		batched.observeMany(values, { action: "a" });

		const [item] = timeless(batched) as Array<{ buckets: Record<string, number>; count: number; sum: number; lastValue: number }>;
		expect(item.buckets).toEqual({ 1: 3, 5: 4, 10: 6, 100: 8 });
		expect(item.count).toBe(9);
		expect(item.sum).toBeCloseTo(412.3);
		expect(item.lastValue).toBe(0.7);
		expect(timeless(batched)).toEqual(timeless(single as never));
	});

	test("given a series already holding values, when more come in batches of one, none and many, then it adds them up as observe does", () => {
		batched.observeMany([], { action: "a" });
		batched.observeMany([2], { action: "a" });
		batched.observeMany([7, 7, 0.5], { action: "a" });
		for (const value of [2, 7, 7, 0.5]) single?.observe(value, { action: "a" });

		expect(timeless(batched)).toEqual(timeless(single as never));
	});

	test("given another label set, when observed, then it is a series of its own", () => {
		batched.observeMany([3, 4], { action: "b" });
		for (const value of [3, 4]) single?.observe(value, { action: "b" });

		expect(batched.snapshot()).toHaveLength(2);
		expect(timeless(batched)).toEqual(timeless(single as never));
	});

	test("exported as a histogram (Prometheus reads its type)", () => {
		expect(batched.type).toBe("histogram");
	});
});
