/** Real HTTP calls to the gateway. */
export interface Reply<T = any> {
	status: number;
	body: T;
	text: string;
	headers: Headers;
}

export async function request<T = any>(
	method: string,
	url: string,
	body?: unknown,
	init: { raw?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
	const payload = init.raw ?? (body === undefined ? undefined : JSON.stringify(body));
	const res = await fetch(url, {
		method,
		headers: { ...(payload !== undefined ? { "content-type": "application/json" } : {}), ...init.headers },
		body: payload,
	});
	const text = await res.text();
	let parsed: unknown = undefined;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		parsed = undefined;
	}
	return { status: res.status, body: parsed as T, text, headers: res.headers };
}

/** `base` may be a function, read at each call: a client made before its server has started. */
export function client(base: string | (() => string)) {
	const url = (path: string) => (typeof base === "string" ? base : base()) + path;
	return {
		get: <T = any>(path: string) => request<T>("GET", url(path)),
		post: <T = any>(path: string, body?: unknown) => request<T>("POST", url(path), body),
		put: <T = any>(path: string, body?: unknown) => request<T>("PUT", url(path), body),
		del: <T = any>(path: string) => request<T>("DELETE", url(path)),
		raw: (method: string, path: string, raw: string, headers?: Record<string, string>) =>
			request(method, url(path), undefined, { raw, headers }),
	};
}
