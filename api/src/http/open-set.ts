/**
 * A set of open things (responses, sockets) with an add when each opens and a delete when it
 * closes: an array with swap-remove, each member keeping its slot. Not a Set: a Set with an add and a
 * delete per request keeps rebuilding its hash table, and V8 allocates each new table in the
 * generation of the one it replaces, linking the old table (entries left in place) to the new one.
 * Once the table has been promoted (after an idle spell), every later table is born old and each
 * discarded one keeps the members it held, with their whole request, alive through every scavenge
 * until a full GC. Under load that was 1.6 MB surviving every scavenge, 5 ms pauses and a p99 of
 * 13-15 ms where it is 8-10 ms now (docs/api.md, "Tests and benchmark").
 */
/** A member as the set sees it: its slot is a property under the set's symbol. */
type Member = Record<symbol, number | undefined>;

export class OpenSet<T extends object> implements Iterable<T> {
  private readonly items: T[] = [];
  /** Each member's index in `items`, as a property of the member under this set's own symbol. */
  private readonly slot = Symbol('slot');

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    const member = item as Member;
    if (member[this.slot] !== undefined) return;
    member[this.slot] = this.items.push(item) - 1;
  }

  /** false when `item` is not a member (never added, or deleted already). */
  delete(item: T): boolean {
    const member = item as Member;
    const at = member[this.slot];
    if (at === undefined || this.items[at] !== item) return false;
    const last = this.items.pop()!;
    if (last !== item) {
      this.items[at] = last;
      (last as Member)[this.slot] = at;
    }
    member[this.slot] = undefined;
    return true;
  }

  /** Iterates a copy: members may be deleted meanwhile. */
  [Symbol.iterator](): Iterator<T> {
    return [...this.items][Symbol.iterator]();
  }
}
