/** Paging rules shared by every list route: page from 1, pageSize 1..100 (default 10). */
import { PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX } from "../constants";

export const pageParams = {
	page: { type: "number", integer: true, positive: true, optional: true },
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
