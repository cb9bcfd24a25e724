/** REPL commands of our own: `dlq list`, `dlq retry <id>` and `rebuild <consumer>`. */
import type { ReplCustomCommand } from "moleculer/src/service-broker";
import { PAGE_MAX, PAGE_SIZE_MAX } from "../constants";
import type { DomainEvent } from "../domain/events";
import { listDeadLetters, retryDeadLetter } from "./dead-letters";
import { rebuildState, startRebuild } from "./rebuilds";

/** How often `rebuild` asks how the rebuild goes (it prints a line when the line changed). */
const REBUILD_POLL_MS = 1000;

export const replCommands: ReplCustomCommand[] = [
	{
		command: "dlq <verb> [id]",
		description: "Dead letters: `dlq list [page]` (100 a page), `dlq retry <id>`",
		async action(broker, args) {
			const { verb, id } = args as unknown as { verb: string; id?: string };
			try {
				const page = Number(id ?? 1);
				if (verb === "list" && Number.isInteger(page) && page >= 1 && page <= PAGE_MAX) {
					const letters = await listDeadLetters(broker, { page, pageSize: PAGE_SIZE_MAX });
					if (letters.total === 0) console.log("No dead letters.");
					for (const letter of letters.rows) {
						// a payload the schema check refused is kept as it came: it may not even be an object
						const event: Partial<DomainEvent> = typeof letter.event === "object" && letter.event !== null ? letter.event : {};
						console.log(
							`${letter.id}  ${event.source} #${event.sequence} ${event.eventType} v${event.version}  attempts ${letter.attempts}  ${letter.failedAt}  ${letter.lastError}`,
						);
					}
					if (letters.totalPages > 1) console.log(`Page ${page} of ${letters.totalPages} (${letters.total} dead letters): dlq list <page>`);
				} else if (verb === "retry" && id) {
					const letter = await retryDeadLetter(broker, id);
					console.log(`${letter.id} queued for retry now.`);
				} else {
					console.log("Usage: dlq list [page] | dlq retry <id>");
				}
			} catch (err) {
				console.log(`dlq ${verb} failed: ${(err as Error).message}`);
			}
		},
	},
	{
		command: "rebuild <consumer>",
		description:
			"Rebuild a consumer's projection from its producer's snapshot, then the log after it (`goals`: its copy of clients; `clients`: its copy of goals)",
		async action(broker, args) {
			const { consumer } = args as unknown as { consumer: string };
			try {
				let rebuild = await startRebuild(broker, String(consumer));
				let printed = "";
				for (;;) {
					if (rebuild.line && rebuild.line !== printed) console.log(rebuild.line);
					printed = rebuild.line;
					if (rebuild.state !== "running") break;
					await new Promise((resolve) => setTimeout(resolve, REBUILD_POLL_MS));
					rebuild = await rebuildState(broker, String(consumer));
				}
				if (rebuild.state !== "done") console.log(`Rebuild of ${consumer} ${rebuild.state}${rebuild.error ? `: ${rebuild.error}` : ""}.`);
			} catch (err) {
				console.log(`rebuild ${consumer} failed: ${(err as Error).message}`);
			}
		},
	},
];
