/** bench/proc.ts: the pure part of reading CPU time from /proc (the benchmarks' CPU ms per request). */
import { addTicks, type CpuSnapshot, listeningInodes, parseProcStat, ticksBetween } from "../../bench/proc";

// a real line (`cat /proc/self/stat`): utime 7, stime 3, starttime 108793
const CAT = "22056 (cat) R 22050 22050 17631 0 -1 4194304 103 0 0 0 7 3 0 0 20 0 1 0 108793 3133440 383 18446744073709551615 94816671633408 0";

describe("parseProcStat", () => {
	test("reads pid, name, state, utime, stime and start time", () => {
		expect(parseProcStat(`${CAT}\n`)).toEqual({ pid: 22056, comm: "cat", state: "R", utime: 7, stime: 3, starttime: 108793 });
	});

	test("a name with spaces and parentheses does not shift the fields", () => {
		const line = "2226 (postgres: (walwriter) x) S 2222 2222 2222 0 -1 4210752 61 0 0 0 120 45 0 0 20 0 1 0 1500 219140096 1650 0";
		expect(parseProcStat(line)).toEqual({ pid: 2226, comm: "postgres: (walwriter) x", state: "S", utime: 120, stime: 45, starttime: 1500 });
	});

	test("a line that is not a stat line is an error, not zeros", () => {
		expect(() => parseProcStat("")).toThrow(/not a \/proc/);
		expect(() => parseProcStat("12 (node) S 1 2")).toThrow(/field 14 is not a number/);
	});
});

describe("listeningInodes", () => {
	const TABLE = [
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		"   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 4729 1 00000000d1e09f95 100 0 0 10 0",
		"   1: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 7234 1 0000000062faa987 100 0 0 10 0",
		"   2: 0100007F:1538 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000   101        0 9911 1 00000000d1e09f95 20 4 30 10 -1",
		"",
	].join("\n");

	test("the LISTEN sockets on the port (0x1538 = 5432), not its established connections", () => {
		expect(listeningInodes(TABLE, 5432)).toEqual([4729]);
		expect(listeningInodes(TABLE, 6379)).toEqual([7234]);
		expect(listeningInodes(TABLE, 5672)).toEqual([]);
	});
});

describe("ticksBetween", () => {
	const snap = (entries: Record<string, Array<[pid: number, ticks: number, starttime: number]>>): CpuSnapshot =>
		new Map(Object.entries(entries).map(([label, pids]) => [label, new Map(pids.map(([pid, ticks, starttime]) => [pid, { ticks, starttime }]))]));

	test("a process in both snapshots counts the difference", () => {
		expect(ticksBetween(snap({ api: [[10, 100, 5]] }), snap({ api: [[10, 160, 5]] }))).toEqual(new Map([["api", 60]]));
	});

	test("backends of a label are summed; one opened during the phase counts all it spent", () => {
		const before = snap({ pg: [[20, 50, 7]] });
		const after = snap({
			pg: [
				[20, 80, 7],
				[21, 12, 900],
			],
		});
		expect(ticksBetween(before, after)).toEqual(new Map([["pg", 42]]));
	});

	test("a reused pid (another start time) is a new process", () => {
		expect(ticksBetween(snap({ pg: [[20, 500, 7]] }), snap({ pg: [[20, 9, 901]] }))).toEqual(new Map([["pg", 9]]));
	});

	test("a process gone by the end adds nothing; a label with no process is 0", () => {
		expect(ticksBetween(snap({ pg: [[20, 500, 7]], redis: [] }), snap({ pg: [], redis: [] }))).toEqual(
			new Map([
				["pg", 0],
				["redis", 0],
			]),
		);
	});

	test("addTicks sums phases per label", () => {
		const total = new Map([["api", 10]]);
		addTicks(
			total,
			new Map([
				["api", 5],
				["pg", 3],
			]),
		);
		expect(total).toEqual(
			new Map([
				["api", 15],
				["pg", 3],
			]),
		);
	});
});
