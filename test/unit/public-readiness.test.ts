/**
 * lib/http/public-readiness: /api/ready shows statuses and numbers, never a probe's error words
 * (they name hosts and ports); those are handed back for the log.
 */
import { publicReadiness, SEE_THE_LOG } from "../../lib/http/public-readiness";

test("every free-text field is replaced, and handed back with where it was", () => {
	const readiness = {
		status: "DOWN",
		components: {
			database: { status: "DOWN", clients: { status: "DOWN", dialect: "postgres", message: "connect ECONNREFUSED 10.0.0.5:5432" } },
			transporter: { status: "UP", type: "ResilientAmqpTransporter" },
			cacher: { status: "DOWN", type: "RedisCacher", message: "connect ETIMEDOUT redis.internal:6379" },
			queues: { status: "DOWN", "MOL-x.EVENTB.goals.client.created": { messages: null, consumers: null, error: "Channel closed by server: 404" } },
		},
	};
	const { answer, details } = publicReadiness(readiness);
	expect(answer).toEqual({
		status: "DOWN",
		components: {
			database: { status: "DOWN", clients: { status: "DOWN", dialect: "postgres", message: SEE_THE_LOG } },
			transporter: { status: "UP", type: "ResilientAmqpTransporter" },
			cacher: { status: "DOWN", type: "RedisCacher", message: SEE_THE_LOG },
			queues: { status: "DOWN", "MOL-x.EVENTB.goals.client.created": { messages: null, consumers: null, error: SEE_THE_LOG } },
		},
	});
	expect(details).toEqual([
		"components.database.clients.message: connect ECONNREFUSED 10.0.0.5:5432",
		"components.cacher.message: connect ETIMEDOUT redis.internal:6379",
		"components.queues.MOL-x.EVENTB.goals.client.created.error: Channel closed by server: 404",
	]);
	// the probes' own object is left as it was
	expect(readiness.components.cacher.message).toContain("redis.internal");
});

test("an answer with nothing to hide is unchanged", () => {
	const ready = { status: "UP", components: { database: { status: "UP" }, queues: { status: "UP", q: { messages: 0, consumers: 1, missing: false } } } };
	expect(publicReadiness(ready)).toEqual({ answer: ready, details: [] });
});
