/**
 * REPL commands of our own (CONTRACT.md, "Operating consumers"): `dlq list|retry|edit|discard|purge`,
 * `consumer list|pause|resume` and `rebuild <consumer>`. They do what the admin API does, through
 * the same functions (lib/consumer/dead-letters.ts, consumers.ts), with the same checks: a filter
 * is checked by the list route's own schema. Changes made here are recorded as made by `repl`.
 */
import { Validators } from "moleculer";
import type { ReplCustomCommand } from "moleculer/src/service-broker";
import { PAGE_MAX, PAGE_SIZE_MAX } from "../constants";
import { ACTION_PARAMS } from "../domain/action-params";
import type { DomainEvent } from "../domain/events";
import { listConsumers, pauseConsumer, resumeConsumer } from "./consumers";
import {
	type ConsumerFilter,
	discardDeadLetter,
	discardDeadLetters,
	editDeadLetter,
	listDeadLetters,
	purgeDeadLetters,
	readDeadLetter,
	retryDeadLetter,
	retryDeadLetters,
} from "./dead-letters";
import type { ConsumerPause } from "./pause-rules";
import { rebuildState, startRebuild } from "./rebuilds";
import type { DeadLetter } from "./retries";

/**
 * A command as moleculer-repl 0.8 reads it: `allowUnknownOptions` lets `--consumer goals` and the
 * like through to `args.options` (Moleculer's typings call it allowUnknownParams, which the REPL
 * does not read).
 */
type ReplCommand = ReplCustomCommand & { allowUnknownOptions?: boolean };

/** How often `rebuild` asks how the rebuild goes (it prints a line when the line changed). */
const REBUILD_POLL_MS = 1000;

/** Who the REPL's changes are recorded as made by (the admin API records the admin token's id). */
export const REPL_BY = "repl";

const DLQ_USAGE = [
	"Usage: dlq list [page] [--consumer goals|clients] [--eventType CREATED|UPDATED|DELETED] [--entityId <id>] [--error <text>] [--from <ISO time>] [--to <ISO time>] [--state dead|discarded|replayed]",
	"       dlq retry <id> | dlq retry --all | dlq retry <filters>",
	"       dlq edit <id> --<field> <value> ... | dlq edit <id> --json '<fields as JSON>'",
	"       dlq discard <id> | dlq discard --all | dlq discard <filters>",
	"       dlq purge [--asOf <ISO time>]",
].join("\n");

const CONSUMER_USAGE = "Usage: consumer list | consumer pause <goals|clients> [--reason <text>] | consumer resume <goals|clients>";

/** The list route's checks, for the REPL's filters: the same words for the same mistakes. */
const checkFilter = new Validators.Fastest().compile(ACTION_PARAMS["api.deadLetters"]) as (value: unknown) => true | Array<{ message?: string }>;

/** A line per dead letter: its id, event, attempts, first failure and last error; its state and edit when there is something to say. */
export function deadLetterLine(letter: DeadLetter): string {
	// a payload the schema check refused is kept as it came: it may not even be an object
	const event: Partial<DomainEvent> = typeof letter.event === "object" && letter.event !== null ? letter.event : {};
	const state = letter.state === "dead" ? "" : `  [${letter.state}]`;
	const edited = letter.edited ? `  [edited ${letter.edited.at} by ${letter.edited.by}]` : "";
	return `${letter.id}  ${event.source} #${event.sequence} ${event.eventType} v${event.version}  attempts ${letter.attempts}  ${letter.failedAt}  ${letter.lastError}${state}${edited}`;
}

function consumerLine(pause: ConsumerPause): string {
	return pause.state === "running" ? `${pause.consumer}  running` : `${pause.consumer}  paused since ${pause.since}: ${pause.reason}`;
}

/** The REPL's options (`--consumer goals` …) as a filter, or the problems with them. */
function filterOf(options: Record<string, unknown>): { filter: ConsumerFilter } | { problems: string[] } {
	const { all: _all, ...given } = options;
	// yargs reads `--error 500` as a number, and `--entityId 5` should be one
	const filter: Record<string, unknown> = { ...given };
	if (typeof filter.error === "number") filter.error = String(filter.error);
	for (const key of ["from", "to"]) if (filter[key] instanceof Date) filter[key] = (filter[key] as Date).toISOString();
	const checked = checkFilter({ ...filter });
	if (checked !== true) return { problems: checked.map((problem) => problem.message ?? "invalid") };
	return { filter: filter as ConsumerFilter };
}

type Print = (line: string) => void;

async function dlq(broker: Parameters<ReplCustomCommand["action"]>[0], verb: string, id: string | undefined, options: Record<string, unknown>, print: Print) {
	const filtered = Object.keys(options).length > 0;
	if (verb === "list") {
		const page = Number(id ?? 1);
		if (!Number.isInteger(page) || page < 1 || page > PAGE_MAX) return print(DLQ_USAGE);
		const checked = filterOf(options);
		if ("problems" in checked) return print(`dlq list: ${checked.problems.join(" ")}`);
		const letters = await listDeadLetters(broker, { ...checked.filter, page, pageSize: PAGE_SIZE_MAX });
		if (letters.total === 0) print(filtered ? "No dead letters match." : "No dead letters.");
		for (const letter of letters.rows) print(deadLetterLine(letter));
		if (letters.totalPages > 1) print(`Page ${page} of ${letters.totalPages} (${letters.total} dead letters): dlq list <page>`);
		return;
	}
	if ((verb === "retry" || verb === "discard") && id) {
		const letter = verb === "retry" ? await retryDeadLetter(broker, id) : await discardDeadLetter(broker, id);
		return print(verb === "retry" ? `${letter.id} queued for retry now.` : `${letter.id} discarded.`);
	}
	if ((verb === "retry" || verb === "discard") && filtered) {
		const checked = filterOf(options);
		if ("problems" in checked) return print(`dlq ${verb}: ${checked.problems.join(" ")}`);
		if ("state" in checked.filter && checked.filter.state !== "dead") return print(`dlq ${verb}: only dead letters are retried or discarded (--state dead).`);
		if (verb === "retry") return print(`${(await retryDeadLetters(broker, checked.filter)).retried} dead letter(s) queued for retry now.`);
		return print(`${(await discardDeadLetters(broker, checked.filter)).discarded} dead letter(s) discarded.`);
	}
	if (verb === "edit" && id && filtered) {
		const { json, ...fields } = options;
		let changes: Record<string, unknown> = fields;
		if (json !== undefined) {
			const parsed: unknown = typeof json === "string" ? JSON.parse(json) : json;
			if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
				return print("dlq edit: --json must be a JSON object of the fields to change.");
			changes = { ...fields, ...(parsed as Record<string, unknown>) };
		}
		// the fields given change the event as it stands (the PUT route takes the whole event)
		const current = (await readDeadLetter(broker, id)).event;
		const edited = await editDeadLetter(broker, id, { ...current, ...changes }, REPL_BY);
		return print(`${edited.id} edited: ${JSON.stringify(edited.event)}. dlq retry ${edited.id} replays it.`);
	}
	if (verb === "purge") {
		const asOf = options.asOf instanceof Date ? options.asOf.toISOString() : options.asOf;
		if (asOf !== undefined && (typeof asOf !== "string" || !Number.isFinite(Date.parse(asOf)))) return print("dlq purge: --asOf must be an ISO time.");
		return print(`${(await purgeDeadLetters(broker, asOf as string | undefined)).purged} settled dead letter(s) purged.`);
	}
	print(DLQ_USAGE);
}

export const replCommands: ReplCommand[] = [
	{
		command: "dlq <verb> [id]",
		description:
			"Dead letters: `dlq list [page] [--consumer …] [--eventType …] [--error …] …`, `dlq retry|discard <id>|<filters>|--all`, `dlq edit <id> --<field> <value>`, `dlq purge`",
		allowUnknownOptions: true,
		async action(broker, args) {
			const { verb, id, options = {} } = args as unknown as { verb: string; id?: string; options?: Record<string, unknown> };
			try {
				await dlq(broker, verb, id, options, (line) => console.log(line));
			} catch (err) {
				const data = (err as { data?: Array<{ message?: string }> }).data;
				const details = Array.isArray(data) ? ` ${data.map((entry) => entry.message).join(" ")}` : "";
				console.log(`dlq ${verb} failed: ${(err as Error).message}${details}`);
			}
		},
	},
	{
		command: "consumer <verb> [name]",
		description: "Consumers: `consumer list`, `consumer pause <goals|clients> [--reason <text>]`, `consumer resume <goals|clients>`",
		allowUnknownOptions: true,
		async action(broker, args) {
			const { verb, name, options = {} } = args as unknown as { verb: string; name?: string; options?: Record<string, unknown> };
			try {
				if (verb === "list" && !name) {
					for (const pause of await listConsumers(broker)) console.log(consumerLine(pause));
				} else if (verb === "pause" && name) {
					const reason = options.reason === undefined ? undefined : String(options.reason);
					console.log(consumerLine(await pauseConsumer(broker, name, REPL_BY, reason)));
				} else if (verb === "resume" && name) {
					console.log(consumerLine(await resumeConsumer(broker, name, REPL_BY)));
				} else {
					console.log(CONSUMER_USAGE);
				}
			} catch (err) {
				console.log(`consumer ${verb} failed: ${(err as Error).message}`);
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
