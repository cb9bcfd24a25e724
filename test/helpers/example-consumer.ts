/**
 * examples/amqp-consumer.ts run as a real process, as a user would run it (`--json`: one line
 * per delivery), with what it printed parsed: the must-show tests read the stream through it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

/** One delivery as the example prints it with --json. */
export interface Delivery {
	queue: string;
	routingKey: string;
	exchange: string;
	redelivered: boolean;
	duplicate: boolean;
	action: "ack" | "requeue" | "reject";
	properties: {
		messageId: string;
		contentType: string;
		deliveryMode: number;
		timestamp: number;
		headers: Record<string, unknown>;
	};
	body: Record<string, any>;
}

export interface ExampleConsumer {
	child: ChildProcess;
	/** every delivery printed so far, in order */
	deliveries: Delivery[];
	/** what it wrote to stderr, for failure messages */
	errors(): string;
	stop(): Promise<void>;
}

export function startExampleConsumer(amqpUrl: string, flags: string[]): ExampleConsumer {
	const child = spawn(process.execPath, ["--import", "tsx", "examples/amqp-consumer.ts", "--json", ...flags], {
		cwd: ROOT,
		env: { ...process.env, AMQP_URL: amqpUrl },
		stdio: ["ignore", "pipe", "pipe"],
	});
	const deliveries: Delivery[] = [];
	let pending = "";
	let stderr = "";
	child.stdout?.on("data", (chunk: Buffer) => {
		pending += chunk.toString("utf8");
		const lines = pending.split("\n");
		pending = lines.pop() ?? "";
		for (const line of lines) if (line.trim()) deliveries.push(JSON.parse(line) as Delivery);
	});
	child.stderr?.on("data", (chunk: Buffer) => {
		stderr += chunk.toString("utf8");
	});
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	return {
		child,
		deliveries,
		errors: () => stderr,
		stop: async () => {
			if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
			await exited;
		},
	};
}
