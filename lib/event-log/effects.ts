/**
 * What a committed transaction leaves to do: cache entries it made stale and events to publish.
 * Handlers collect these inside the transaction and settle them only after the commit, so a
 * rolled-back change never publishes and never evicts.
 */
import type { DomainEvent } from "../domain/events";

export interface Effects {
	cacheKeys: string[];
	events: DomainEvent[];
}

export const noEffects = (): Effects => ({ cacheKeys: [], events: [] });

export function mergeEffects(all: Effects[]): Effects {
	return {
		cacheKeys: [...new Set(all.flatMap((effects) => effects.cacheKeys))],
		events: all.flatMap((effects) => effects.events),
	};
}
