/**
 * Fifo: an array-backed first-in first-out queue with O(1) amortised push and shift.
 *
 * Why: a connection matches replies to requests purely by order, so its pending list is a FIFO
 * that shifts once per reply; `Array.prototype.shift` is O(n) and, at thousands of requests in
 * flight, shows up in profiles. Items before `head` are released (set undefined) as they leave,
 * and the array is compacted when the dead prefix outgrows the live part.
 *
 *   items: [ x x x | a b c d ]      head → a, length = 4
 *            dead     live
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return item;
  }

  /** Removes the first item equal to `item`; O(n), used only for cancellations. */
  remove(item: T): boolean {
    const i = this.items.indexOf(item, this.head);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  /** Empties the queue and returns what it held, in order. */
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}
