/**
 * Which request caused an event: the `X-Request-ID` of the REST call whose change the event
 * records (Moleculer's `ctx.requestID`, also the trace id), followed from the gateway into the
 * event log, the published event, the consumers that apply it, their retry table and dead
 * letters, the events they cause in turn (a client's deletion deletes its goals), and their log
 * lines.
 *
 * Kept beside the event object, not in it: an event's JSON is exactly the contract's, for every
 * consumer and for the AMQP exchange, so no field is added to it. Across nodes it travels as the
 * event context's request id (a live event), in a page of the log (catch-up), or in a retry row.
 */
const causes = new WeakMap<object, string>();

/** Note that `event` was caused by `requestId` (nothing when there is none); returns the event. */
export function causedBy<E extends object>(event: E, requestId: string | null | undefined): E {
	if (requestId) causes.set(event, requestId);
	return event;
}

/** The request that caused `event`, if known. */
export function causeOf(event: object): string | undefined {
	return causes.get(event);
}

/** ` [request <id>]` for a log line about `event`, or nothing when its cause is unknown. */
export function requestTag(event: object): string {
	const cause = causes.get(event);
	return cause ? ` [request ${cause}]` : "";
}
