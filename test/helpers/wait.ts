/** Poll until `check` returns a truthy value or throws no more, within a deadline. Never a fixed sleep. */
export async function waitFor<T>(
	check: () => Promise<T> | T,
	options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
	const { timeoutMs = 5000, intervalMs = 25, what = "condition" } = options;
	const deadline = Date.now() + timeoutMs;
	let lastError: unknown;
	for (;;) {
		try {
			const value = await check();
			if (value) return value as NonNullable<T>;
			lastError = undefined;
		} catch (err) {
			lastError = err;
		}
		if (Date.now() > deadline) {
			const reason = lastError instanceof Error ? `: ${lastError.message}` : "";
			throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
		}
		await new Promise((resolve) => setTimeout(resolve, intervalMs));
	}
}
