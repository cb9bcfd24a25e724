/**
 * The `Idempotency-Key` header of a write (POST, PUT, DELETE): 1..100 printable ASCII
 * characters. The gateway scopes it to the request's method and path, so that one key reused on
 * another route is another request; the write helper (mixins/event-log.mixin.ts) does the rest.
 */
import { FieldValidationError } from "../errors";

export const IDEMPOTENCY_HEADER = "idempotency-key";
const PRINTABLE = /^[\x20-\x7e]{1,100}$/;
const WRITES = new Set(["POST", "PUT", "DELETE"]);

/**
 * The key the write is deduplicated by, `<METHOD> <path> <key>`, or undefined without the header
 * (or on a read, which has nothing to repeat). A malformed header is a 422. Pure.
 */
export function scopedIdempotencyKey(method: string, path: string, header: string | string[] | undefined): string | undefined {
	if (header === undefined || !WRITES.has(method)) return undefined;
	const value = Array.isArray(header) ? header.join(",") : header;
	if (!PRINTABLE.test(value) || value.trim() === "") {
		throw new FieldValidationError([
			{
				type: "idempotencyKey",
				field: "Idempotency-Key",
				message: "The 'Idempotency-Key' header must be 1 to 100 printable ASCII characters.",
			},
		]);
	}
	return `${method} ${path} ${value}`;
}
