/**
 * Goal: the roster (server/cluster/roster.ts) remembers members that left, across restarts and
 * from peers' reports, for ABSENT_HORIZON_MS and no longer; a member back in the cluster is not
 * absent. Method: a roster on a temp file driven with explicit times.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ABSENT_HORIZON_MS, Roster } from "../../server/cluster/roster.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-roster-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("roster", () => {
  it("a member that left is absent until it returns or the horizon passes; the file keeps it", () => {
    const file = path.join(dir, "a.json");
    const r = new Roster(file);
    r.seen(["A", "B", "C"], 1000);
    expect(r.absent(["A", "B", "C"], 1000)).toEqual([]);
    r.seen(["A", "B"], 2000);
    expect(r.absent(["A", "B"], 2000)).toEqual([["C", 1000]]);
    const reopened = new Roster(file);
    expect(reopened.absent(["A", "B"], 3000)).toEqual([["C", 1000]]);
    expect(reopened.absent(["A", "B", "C"], 3000)).toEqual([]);
    expect(reopened.absent(["A", "B"], 1000 + ABSENT_HORIZON_MS)).toEqual([]);
  });

  it("learns absent members from peers, ignoring current members and malformed entries", () => {
    const r = new Roster();
    r.seen(["A", "B"], 5000);
    r.merge([["D", 4000], ["A", 1], ["not-hex", 4000], ["E", "x"], "junk"], ["A", "B"], 5000);
    expect(r.absent(["A", "B"], 5000)).toEqual([["D", 4000]]);
    r.merge("junk", ["A", "B"], 5000);
    expect(r.absent(["A", "B"], 5000)).toEqual([["D", 4000]]);
  });

  it("a corrupt file is ignored, not fatal", () => {
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, "{not json");
    expect(new Roster(file).absent([], 0)).toEqual([]);
  });
});
