/**
 * A list of RabbitMQ nodes in one setting (TRANSPORTER, EVENT_STREAM_URL): URLs separated by `;`,
 * Moleculer's own convention (its AMQP transporter splits on `;` and tries the next URL on each
 * connect attempt). Pure.
 */

/** The URLs of `raw`, in order, each trimmed; empty parts (a trailing `;`) dropped. */
export function brokerUrls(raw: string): string[] {
	return raw
		.split(";")
		.map((part) => part.trim())
		.filter(Boolean);
}

/**
 * How a broker is named in logs and in /api/ready: `host:port`, never the user or password of
 * its URL (AMQP's default port when the URL has none). A URL that cannot be parsed is `unknown`.
 */
export function brokerLabel(url: string): string {
	if (!URL.canParse(url)) return "unknown";
	const parsed = new URL(url);
	const port = parsed.port || (parsed.protocol === "amqps:" ? "5671" : "5672");
	return `${parsed.hostname}:${port}`;
}

/** The URL to try on connect attempt `attempt` (1, 2, …): the first, the second, … round the list, as Moleculer picks. */
export function urlForAttempt(urls: readonly string[], attempt: number): string {
	return urls[(Math.max(1, attempt) - 1) % urls.length];
}
