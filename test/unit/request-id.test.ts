/** Which X-Request-ID a request keeps: a plain token of 1..128 characters; anything else gets a new one. */
import { acceptedRequestId } from "../../lib/http/request-id";

test("given a UUID, a ULID or a trace id, then it is kept", () => {
	for (const id of ["5f0c6e1e-8a0e-4c55-9d55-2d0a3c1b7e10", "01HZX3R8Q6W6Y1T2N3B4C5D6E7", "req-42.a:b_c", "a".repeat(128)]) {
		expect(acceptedRequestId(id)).toBe(id);
	}
});

test("given an empty, too long, spaced, control-character or HTML id, then Moleculer makes a new one", () => {
	for (const id of ["", "a".repeat(129), "two words", "line\nbreak", "<script>", "id;drop", "é"]) {
		expect(acceptedRequestId(id)).toBeUndefined();
	}
});

test("given the header twice, or not at all, then Moleculer makes a new one", () => {
	expect(acceptedRequestId(["a", "b"])).toBeUndefined();
	expect(acceptedRequestId(undefined)).toBeUndefined();
});
