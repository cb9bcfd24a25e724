/** REPL commands of our own: `dlq list` and `dlq retry <id>`. */
import type { ReplCustomCommand } from "moleculer/src/service-broker";
import { listDeadLetters, retryDeadLetter } from "./dead-letters";

export const replCommands: ReplCustomCommand[] = [
	{
		command: "dlq <verb> [id]",
		description: "Dead letters: `dlq list`, `dlq retry <id>`",
		async action(broker, args) {
			const { verb, id } = args as unknown as { verb: string; id?: string };
			try {
				if (verb === "list") {
					const letters = await listDeadLetters(broker);
					if (letters.length === 0) console.log("No dead letters.");
					for (const letter of letters) {
						const event = letter.event;
						console.log(
							`${letter.id}  ${event.source} #${event.sequence} ${event.eventType} v${event.version}  attempts ${letter.attempts}  ${letter.failedAt}  ${letter.lastError}`,
						);
					}
				} else if (verb === "retry" && id) {
					const letter = await retryDeadLetter(broker, id);
					console.log(`${letter.id} queued for retry now.`);
				} else {
					console.log("Usage: dlq list | dlq retry <id>");
				}
			} catch (err) {
				console.log(`dlq ${verb} failed: ${(err as Error).message}`);
			}
		},
	},
];
