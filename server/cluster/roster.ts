/**
 * Roster: every node this node has been in a cluster with lately, and when it last saw each.
 *
 * Why: a node that left (crashed, was stopped, or sits on the other side of a network split)
 * keeps its data and may come back with it. Its copies can hold records deleted while it was
 * away; only a tombstone on the cluster's side overrules them when they merge. So tombstones are
 * reclaimed only while no recent member is away (`absent` empty). A member away longer than
 * ABSENT_HORIZON_MS is forgotten: by then the tombstones it could need are swept anyway
 * (TOMBSTONE_RETAIN_SEC), and a node back after that long should rejoin with an empty data dir.
 *
 * Kept in `<dataDir>/roster.json` (written on change, atomically) so that a restart does not
 * forget who is away, and exchanged with the holdings announcements so that a node that joined
 * later learns of members that left before it came.
 */
import fs from "node:fs";

export const ROSTER_FILE = "roster.json";
/** How long an absent member is remembered. Equal to the tombstone retention (24 h). */
export const ABSENT_HORIZON_MS = 24 * 3600 * 1000;
/** How often the last-seen times of present members are written down at most. */
const SAVE_PERIOD_MS = 10 * 60 * 1000;
/** Entries kept at most (older ones dropped first). */
const ROSTER_MAX = 4096;
const NODE_ID_RE = /^[0-9A-F]{1,16}$/;

export class Roster {
  private readonly lastSeen = new Map<string, number>();
  private savedMs = 0;

  constructor(private readonly file?: string) {
    if (!file) return;
    try {
      const raw = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
      if (raw && typeof raw === "object") for (const [id, ms] of Object.entries(raw)) this.note(id, ms);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !(err instanceof SyntaxError)) throw err;
    }
  }

  /** The current members were seen now. Saves when the set of known nodes changed. */
  seen(members: readonly string[], nowMs: number): void {
    let added = false;
    for (const m of members) {
      if (!this.lastSeen.has(m)) added = true;
      this.lastSeen.set(m, nowMs);
    }
    const pruned = this.prune(nowMs);
    if (added || pruned || nowMs - this.savedMs >= SAVE_PERIOD_MS) this.save(nowMs);
  }

  /** Absent members a peer reported; ignored for ids that are members now. */
  merge(entries: unknown, members: readonly string[], nowMs: number): void {
    if (!Array.isArray(entries)) return;
    let added = false;
    for (const e of entries.slice(0, ROSTER_MAX)) {
      if (!Array.isArray(e) || members.includes(e[0] as string)) continue;
      const before = this.lastSeen.get(e[0] as string);
      if (this.note(e[0], e[1]) && before === undefined) added = true;
    }
    if (this.prune(nowMs) || added) this.save(nowMs);
  }

  /** Nodes seen within the horizon that are not members now, with when they were last seen. */
  absent(members: readonly string[], nowMs: number): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [id, ms] of this.lastSeen) if (!members.includes(id) && nowMs - ms < ABSENT_HORIZON_MS) out.push([id, ms]);
    return out;
  }

  private note(id: unknown, ms: unknown): boolean {
    if (typeof id !== "string" || !NODE_ID_RE.test(id) || typeof ms !== "number" || !Number.isFinite(ms)) return false;
    this.lastSeen.set(id, Math.max(ms, this.lastSeen.get(id) ?? 0));
    return true;
  }

  private prune(nowMs: number): boolean {
    let changed = false;
    for (const [id, ms] of this.lastSeen) {
      if (nowMs - ms >= ABSENT_HORIZON_MS) {
        this.lastSeen.delete(id);
        changed = true;
      }
    }
    if (this.lastSeen.size > ROSTER_MAX) {
      const oldest = [...this.lastSeen].sort((a, b) => a[1] - b[1]).slice(0, this.lastSeen.size - ROSTER_MAX);
      for (const [id] of oldest) this.lastSeen.delete(id);
      changed = true;
    }
    return changed;
  }

  private save(nowMs: number): void {
    this.savedMs = nowMs;
    if (!this.file) return;
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.lastSeen)) + "\n");
    fs.renameSync(tmp, this.file);
  }
}
