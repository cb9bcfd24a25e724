/**
 * A fresh copy of the working tree as a clone would have it (the files git tracks, plus untracked
 * files that are not ignored), for tests that run the program the way a user or an image build
 * does. node_modules is linked in, so nothing is reinstalled.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "../..");

export function freshCopy(prefix = "cg-fresh-clone-"): string {
	const target = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
		cwd: ROOT,
		encoding: "utf8",
		maxBuffer: 16 * 1024 * 1024,
	});
	for (const file of new Set(listed.split("\0").filter(Boolean))) {
		const from = path.join(ROOT, file);
		if (!fs.existsSync(from)) continue; // tracked but deleted in the working tree
		fs.mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
		fs.cpSync(from, path.join(target, file));
	}
	fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(target, "node_modules"), "dir");
	return target;
}
