/**
 * Paging rules. Lists are page-numbered: page 1..PAGE_MAX, pageSize 1..100 (default 10). The
 * audit trail is read on by version: at most HISTORY_LIMIT_MAX events after `afterVersion`.
 */
import { HISTORY_LIMIT_MAX, ID_MAX, PAGE_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX } from "../constants";

export const pageParams = {
	page: { type: "number", integer: true, positive: true, max: PAGE_MAX, optional: true },
	pageSize: {
		type: "number",
		integer: true,
		positive: true,
		max: PAGE_SIZE_MAX,
		optional: true,
	},
} as const;

export interface PageRequest {
	page?: number;
	pageSize?: number;
}

export interface Page<T> {
	rows: T[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

export function pageWindow(req: PageRequest): { page: number; pageSize: number; offset: number } {
	const page = req.page ?? 1;
	const pageSize = req.pageSize ?? PAGE_SIZE_DEFAULT;
	return { page, pageSize, offset: (page - 1) * pageSize };
}

export function toPage<T>(rows: T[], total: number, page: number, pageSize: number): Page<T> {
	return { rows, total, page, pageSize, totalPages: Math.ceil(total / pageSize) };
}

/** `?afterVersion=&limit=` of the audit routes. A version is a 32-bit integer column, as an id is. */
export const historyParams = {
	afterVersion: { type: "number", integer: true, min: 0, max: ID_MAX, optional: true },
	limit: { type: "number", integer: true, positive: true, max: HISTORY_LIMIT_MAX, optional: true },
} as const;

export interface HistoryRequest {
	afterVersion?: number;
	limit?: number;
}

/** The versions one answer of an audit route covers: after `afterVersion`, at most `limit` of them. */
export function historyWindow(req: HistoryRequest): { afterVersion: number; limit: number } {
	return { afterVersion: req.afterVersion ?? 0, limit: req.limit ?? HISTORY_LIMIT_MAX };
}
