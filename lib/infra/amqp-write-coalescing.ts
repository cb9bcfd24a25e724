/**
 * One socket write for the frames an amqplib connection sends in one turn.
 *
 * Why: amqplib gathers its channels' frames (publishes, acks, …) in a multiplexer that hands them
 * to the socket on the next `setImmediate`, one `socket.write` per frame, and each is a system
 * call; on this VM a socket write costs 0.1–0.2 ms of CPU (the receiver's wake-up with it), which
 * is most of what a node spends per request (docs/benchmarks.md, "Where the time goes"). A
 * response, the event it caused and the request's ack, or a batch's acks, leave in the same turn.
 * Corked for the multiplexer's pass, the socket sends them in one `writev`: the same bytes in the
 * same order, sooner rather than later (uncorked before the pass returns).
 *
 * Written against amqplib 0.10's Mux (lib/mux.js: `out`, `_readIncoming`); when a connection does
 * not have that shape it is left as it is (`false`), and nothing else changes.
 */
import type { Writable } from "node:stream";

interface Muxer {
	out: Writable;
	_readIncoming(): void;
}

/** Cork the socket around each pass of the connection's multiplexer; false if it is not amqplib 0.10's. */
export function coalesceWrites(model: unknown): boolean {
	const muxer = (model as { connection?: { muxer?: Partial<Muxer> } } | null)?.connection?.muxer;
	if (!muxer || typeof muxer._readIncoming !== "function" || typeof muxer.out?.cork !== "function") return false;
	const pass = muxer._readIncoming;
	const corked = muxer as Muxer;
	// an own property, so the Mux's 'drain' listener (which calls `self._readIncoming()`) takes it too
	corked._readIncoming = function corkedPass(this: Muxer) {
		this.out.cork();
		try {
			pass.call(this);
		} finally {
			this.out.uncork();
		}
	};
	return true;
}
