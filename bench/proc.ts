/**
 * CPU time of processes, read from /proc: what each process of a benchmark spent (user + system)
 * while a phase ran. Node processes are measured by pid; the shared servers (RabbitMQ's
 * beam.smp, redis-server) by the pid that listens on their port; PostgreSQL by its backends'
 * pids from pg_stat_activity (those of the benchmark's own databases, and apart from them the
 * WAL writer, checkpointer and background writer, which serve every database on the server).
 *
 * The parsers and the arithmetic are pure (test/unit/proc-stat.test.ts); reading /proc and
 * PostgreSQL is the thin rest.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { Client } from "pg";

/** The fields of /proc/<pid>/stat we use. */
export interface ProcStat {
	pid: number;
	comm: string;
	state: string;
	/** user-mode CPU time of the whole process (every thread), in clock ticks */
	utime: number;
	/** kernel-mode CPU time, in clock ticks */
	stime: number;
	/** when the process started, in clock ticks after boot: tells a reused pid from the old one */
	starttime: number;
}

/**
 * Parse /proc/<pid>/stat (proc(5)). `comm` is in parentheses and may hold spaces and
 * parentheses itself, so the fields after it are counted from the last `)`.
 */
export function parseProcStat(text: string): ProcStat {
	const open = text.indexOf("(");
	const close = text.lastIndexOf(")");
	if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
	// fields 3.. (state, ppid, …): utime is field 14, stime 15, starttime 22 (1-based, as in proc(5))
	const rest = text
		.slice(close + 2)
		.trim()
		.split(/\s+/);
	const field = (n: number): number => {
		const value = Number(rest[n - 3]);
		if (!Number.isFinite(value)) throw new Error(`/proc/<pid>/stat field ${n} is not a number: ${text.slice(0, 80)}`);
		return value;
	};
	return {
		pid: Number(text.slice(0, open).trim()),
		comm: text.slice(open + 1, close),
		state: rest[0],
		utime: field(14),
		stime: field(15),
		starttime: field(22),
	};
}

/**
 * The socket inodes listening on `port` in a /proc/net/tcp or /proc/net/tcp6 table (state 0A is
 * LISTEN; the local address is hex `address:port`, the inode the tenth column).
 */
export function listeningInodes(table: string, port: number): number[] {
	const inodes: number[] = [];
	for (const line of table.split("\n").slice(1)) {
		const columns = line.trim().split(/\s+/);
		if (columns.length < 10) continue;
		const [, local, , state] = columns;
		if (state === "0A" && Number.parseInt(local.split(":")[1], 16) === port) inodes.push(Number(columns[9]));
	}
	return inodes;
}

/** A process's CPU counters at one moment. */
export interface CpuReading {
	/** utime + stime, clock ticks */
	ticks: number;
	starttime: number;
}

/** label (e.g. "api", "PostgreSQL backends") → pid → reading */
export type CpuSnapshot = Map<string, Map<number, CpuReading>>;

/**
 * CPU ticks spent per label between two snapshots. A pid in both (same start time) counts its
 * difference; a pid only in `after` (a PostgreSQL backend opened meanwhile) counts everything
 * it spent, since it started during the phase; a pid only in `before` has exited and its last
 * ticks are lost (a phase should end before pools close idle connections).
 */
export function ticksBetween(before: CpuSnapshot, after: CpuSnapshot): Map<string, number> {
	const spent = new Map<string, number>();
	for (const [label, pids] of after) {
		let sum = 0;
		for (const [pid, now] of pids) {
			const then = before.get(label)?.get(pid);
			sum += then && then.starttime === now.starttime ? now.ticks - then.ticks : now.ticks;
		}
		spent.set(label, sum);
	}
	return spent;
}

/** Add one phase's ticks per label into a running total. */
export function addTicks(total: Map<string, number>, more: Map<string, number>): void {
	for (const [label, ticks] of more) total.set(label, (total.get(label) ?? 0) + ticks);
}

// ---------------------------------------------------------------------------------------------
// reading the machine

let ticksPerSecond: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux almost everywhere). */
export function clockTicksPerSecond(): number {
	ticksPerSecond ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
	return ticksPerSecond;
}

/** Ticks to milliseconds. */
export function ticksToMs(ticks: number): number {
	return (ticks * 1000) / clockTicksPerSecond();
}

/** One process's counters now, or null when it is gone (or /proc cannot be read). */
export function readCpu(pid: number): CpuReading | null {
	try {
		const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
		return { ticks: stat.utime + stat.stime, starttime: stat.starttime };
	} catch {
		return null;
	}
}

/**
 * The pid of the process listening on a TCP port of this machine, found through the socket's
 * inode in /proc/<pid>/fd (which needs the right to read other users' fds: root, or the same
 * user); null when none is found.
 */
export function pidListeningOn(port: number): number | null {
	const inodes = new Set<number>();
	for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
		try {
			for (const inode of listeningInodes(readFileSync(table, "utf8"), port)) inodes.add(inode);
		} catch {
			// no IPv6 table on this machine
		}
	}
	if (inodes.size === 0) return null;
	const wanted = new Set([...inodes].map((inode) => `socket:[${inode}]`));
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		let fds: string[];
		try {
			fds = readdirSync(`/proc/${entry}/fd`);
		} catch {
			continue;
		}
		for (const fd of fds) {
			try {
				if (wanted.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry);
			} catch {
				// the fd closed while we looked
			}
		}
	}
	return null;
}

/** Something to measure: a label and where its pids are now. */
export interface Measured {
	label: string;
	pids(): Promise<number[]> | number[];
}

/** Every measured label's processes read now. */
export async function snapshot(measured: Measured[]): Promise<CpuSnapshot> {
	const out: CpuSnapshot = new Map();
	for (const { label, pids } of measured) {
		const readings = new Map<number, CpuReading>();
		for (const pid of await pids()) {
			const reading = readCpu(pid);
			if (reading) readings.set(pid, reading);
		}
		out.set(label, readings);
	}
	return out;
}

/** PostgreSQL's background processes that serve every database: shared with other programs. */
const PG_BACKGROUND = ["walwriter", "checkpointer", "background writer"];

/**
 * PostgreSQL's processes as pg_stat_activity lists them, through a connection of the caller's
 * (to another database, so that it never counts itself).
 */
export class PgProcesses {
	constructor(private readonly admin: Client) {}

	/** The backends connected to any of `databases` now. */
	async backends(databases: string[]): Promise<number[]> {
		const { rows } = await this.admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()", [
			databases,
		]);
		return rows.map((row) => row.pid);
	}

	/** The WAL writer, checkpointer and background writer. */
	async background(): Promise<number[]> {
		const { rows } = await this.admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE backend_type = ANY($1::text[])", [PG_BACKGROUND]);
		return rows.map((row) => row.pid);
	}
}

/**
 * CPU spent by a set of processes over several phases (the rounds of one case): `start` before
 * each phase, `stop` after it; the ticks add up per label.
 */
export class CpuAccount {
	private before: CpuSnapshot | null = null;
	readonly ticks = new Map<string, number>();

	constructor(readonly measured: Measured[]) {}

	async start(): Promise<void> {
		this.before = await snapshot(this.measured);
	}

	async stop(): Promise<void> {
		if (!this.before) throw new Error("CpuAccount.stop without start");
		addTicks(this.ticks, ticksBetween(this.before, await snapshot(this.measured)));
		this.before = null;
	}

	/** CPU ms per request of one label (null when it was never measured or no request succeeded). */
	msPer(label: string, requests: number): number | null {
		const ticks = this.ticks.get(label);
		return ticks === undefined || requests <= 0 ? null : ticksToMs(ticks) / requests;
	}

	/** CPU ms per request of every label together. */
	totalMsPer(requests: number): number | null {
		if (this.ticks.size === 0 || requests <= 0) return null;
		return ticksToMs([...this.ticks.values()].reduce((a, b) => a + b, 0)) / requests;
	}
}

/**
 * Until the processes have gone quiet (at most `idleTicks` between two reads `windowMs` apart),
 * or `timeoutMs` passed: work a request left behind (an event applied after the answer) is
 * then over and counted with the request that caused it. Resolves with whether they went quiet.
 */
export async function untilQuiet(pids: number[], { idleTicks = 1, windowMs = 200, timeoutMs = 15_000 } = {}): Promise<boolean> {
	const total = () => pids.reduce((sum, pid) => sum + (readCpu(pid)?.ticks ?? 0), 0);
	const deadline = Date.now() + timeoutMs;
	let last = total();
	while (Date.now() < deadline) {
		await new Promise((resolve) => setTimeout(resolve, windowMs));
		const now = total();
		if (now - last <= idleTicks) return true;
		last = now;
	}
	return false;
}
