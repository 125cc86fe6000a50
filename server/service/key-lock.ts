/**
 * Per-key serialisation of read-modify-write.
 *
 * A write reads the stored record, applies the rules and writes the result; the write becomes
 * visible to reads only once LMDB commits it (a few ms later, batched). Two writes to one key in
 * that window would both read the old record and one update would be lost, so commands on a key
 * with a write in flight wait for it. Reads of a key with no write in flight (the common case)
 * run synchronously without touching this map, so the hot read path pays one Map lookup.
 *
 * Invariant: at most one chain per key; the entry is removed when its chain drains, so the map
 * holds only keys with writes in flight (bounded by in-flight requests).
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Keys with work in flight. */
  get size(): number {
    return this.tails.size;
  }

  busy(key: string): boolean {
    return this.tails.has(key);
  }

  /** Runs `fn` after every earlier `run` on `key` has settled. */
  run<T>(key: string, fn: () => T | Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    const result = prev ? prev.then(fn) : Promise.resolve().then(fn);
    const tail = result.then(noop, noop);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /**
   * Runs `fn` once every earlier `run`/`runAll` on any of `keys` has settled, holding all of them
   * until it settles: one chain link for a batch (a migration chunk) instead of one per key.
   */
  runAll<T>(keys: readonly string[], fn: () => T | Promise<T>): Promise<T> {
    const prev: Promise<void>[] = [];
    for (const key of keys) {
      const p = this.tails.get(key);
      if (p !== undefined) prev.push(p);
    }
    const result = prev.length === 0 ? Promise.resolve().then(fn) : Promise.all(prev).then(fn);
    const tail = result.then(noop, noop);
    for (const key of keys) this.tails.set(key, tail);
    void tail.then(() => {
      for (const key of keys) if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

function noop(): void {}
