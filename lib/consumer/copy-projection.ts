/**
 * A projection kept in a copy table (lib/storage/copy-table.ts): one version-guarded row per
 * entity of the producer. Applying a batch, rebuilding a page and removing copies are the same
 * for every copy (lib/domain/projection-rules.ts, lib/domain/snapshot.ts); a service says only
 * which copy an event leaves and what a saved or removed copy means to it (cache keys, cascades).
 */
import type { DomainEvent } from "../domain/events";
import { foldEvents, type Held } from "../domain/projection-rules";
import { planRebuildPage } from "../domain/snapshot";
import { type Effects, noEffects } from "../event-log/effects";
import type { Closing, CopyTable, WithSaved } from "../storage/copy-table";
import type { Sql } from "../storage/sql";
import type { BatchResult, Projection } from "./projection";

export abstract class CopyProjection<E extends DomainEvent, C extends Held> implements Projection<E> {
	constructor(protected readonly copies: CopyTable<C>) {}

	abstract entityOf(event: E): number;

	/** The copy `event` leaves; `deleted`: a tombstone. */
	protected abstract copyOf(event: E, deleted: boolean): C;

	/**
	 * What saving `saved` over `held` means beyond the copy, done in the same transaction (a
	 * cascade) and left for after it (cache keys, events). `events`: those the copies came from.
	 */
	protected abstract consequences(sql: Sql, held: ReadonlyMap<number, C>, saved: C[], events: readonly E[], touched: number[] | null): Promise<Effects>;

	/**
	 * A consequence that can ride along with the save (PostgreSQL: one round trip for both), decided
	 * from the copies before they are saved and applied to those saved; none by default.
	 * `consequences` is then told the ids it touched.
	 */
	protected withSaved(_held: ReadonlyMap<number, C>, _copies: C[]): WithSaved | undefined {
		return undefined;
	}

	/**
	 * Whether `consequences` will run no statement after saving `copies` over `held` (then a
	 * closing can end the transaction with the save: held copies, then the rest, two round
	 * trips); true by default, as no SQL is the rule.
	 */
	protected endsWithSave(_held: ReadonlyMap<number, C>, _copies: C[]): boolean {
		return true;
	}

	/**
	 * Whether a batch of `events` may be applied as one statement that ends its transaction
	 * (`applyBatch` with a closing): its consequences then run no statement, and nothing else is
	 * written from its copies (the statement sees only its snapshot's rows). False by default.
	 */
	protected inOneStatement(_events: readonly E[]): boolean {
		return false;
	}

	/** What removing these copies leaves to do after the commit. */
	protected abstract removed(rows: C[]): Effects;

	async applyBatch(sql: Sql, events: E[], closing?: Closing): Promise<BatchResult<E>> {
		const alone = closing ? await this.applyInOneStatement(sql, events, closing) : null;
		if (alone) return alone;
		const held = await this.copies.held(
			sql,
			events.map((event) => this.entityOf(event)),
		);
		const folded = foldEvents(
			held,
			events,
			(event) => this.entityOf(event),
			(event, decision) => this.copyOf(event, decision.kind === "tombstone"),
		);
		const { saved, effects, closed } = await this.save(sql, held, [...folded.changed.values()], events, "save", closing);
		// an entity whose save did not take was newer already (a replica got there first)
		return {
			applied: folded.applied.filter((event) => saved.has(this.entityOf(event))),
			stale: [...folded.stale, ...folded.applied.filter((event) => !saved.has(this.entityOf(event)))],
			effects,
			...(closed ? { closed } : {}),
		};
	}

	/**
	 * The batch as one statement with its transaction's BEGIN, closing and COMMIT (lib/storage/
	 * copy-table.ts, saveUnread); null when it cannot be (nothing sent). What it writes is the
	 * batch's own fold (each entity's newest state the batch reaches), under the save's version
	 * guard: the same rows `foldEvents` over the held copies would write. The outcome is then
	 * folded over the copies the statement read, as the other path does.
	 */
	private async applyInOneStatement(sql: Sql, events: E[], closing: Closing): Promise<BatchResult<E> | null> {
		if (!this.inOneStatement(events)) return null;
		const entityOf = (event: E) => this.entityOf(event);
		const copyOf = (event: E, decision: { kind: string }) => this.copyOf(event, decision.kind === "tombstone");
		const reached = foldEvents(new Map<number, C>(), events, entityOf, copyOf);
		const written = await this.copies.saveUnread(sql, [...reached.changed.values()], closing);
		if (!written) return null;
		const { held, saved, touched, closed } = written;
		const folded = foldEvents(held, events, entityOf, copyOf);
		const effects = await this.consequences(
			sql,
			held,
			[...reached.changed.values()].filter((copy) => saved.has(this.copies.idOf(copy))),
			events,
			touched,
		);
		return {
			applied: folded.applied.filter((event) => saved.has(this.entityOf(event))),
			stale: [...folded.stale, ...folded.applied.filter((event) => !saved.has(this.entityOf(event)))],
			effects,
			closed,
		};
	}

	async rebuildPage(sql: Sql, snapshot: E[], range: { after: number; upTo: number | null }): Promise<BatchResult<E> & { absent: number[] }> {
		const held = await this.copies.inRange(sql, range.after, range.upTo);
		const plan = planRebuildPage(held, snapshot, (event) => this.entityOf(event), range);
		// rows already as the snapshot says are left as they are: no write, no consequence
		const differs = plan.write
			.map((event) => this.copyOf(event, event.eventType === "DELETED"))
			.filter((copy) => !this.copies.same(held.get(this.copies.idOf(copy)), copy));
		const { saved, effects } = await this.save(sql, held, differs, plan.write, "overwrite");
		return {
			applied: plan.write.filter((event) => saved.has(this.entityOf(event))),
			stale: [...plan.newer, ...plan.write.filter((event) => !saved.has(this.entityOf(event)))],
			effects,
			absent: plan.remove,
		};
	}

	async removeCopies(sql: Sql, ids: number[]): Promise<Effects> {
		return this.removed(await this.copies.remove(sql, ids));
	}

	/**
	 * Write `copies` (guarded as a live event's, or as a rebuild's) and what the saved ones mean.
	 * `closing` ends the transaction with the save when nothing follows it here (`endsWithSave`);
	 * `closed` is its answer, or null when it did not ride (the caller runs it).
	 */
	protected async save(
		sql: Sql,
		held: ReadonlyMap<number, C>,
		copies: C[],
		events: readonly E[],
		how: "save" | "overwrite",
		closing?: Closing,
	): Promise<{ saved: Set<number>; effects: Effects; closed: number[] | null }> {
		if (copies.length === 0) return { saved: new Set(), effects: noEffects(), closed: null };
		const alongside = this.withSaved(held, copies);
		const ending = closing && this.endsWithSave(held, copies) ? closing : undefined;
		const { saved, touched, closed } =
			how === "save" ? await this.copies.save(sql, copies, alongside, ending) : await this.copies.overwrite(sql, copies, alongside);
		const effects = await this.consequences(
			sql,
			held,
			copies.filter((copy) => saved.has(this.copies.idOf(copy))),
			events,
			touched,
		);
		return { saved, effects, closed };
	}
}
