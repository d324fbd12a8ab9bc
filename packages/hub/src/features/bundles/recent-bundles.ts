/**
 * The JSON of the bundles served last, up to a budget of characters. A rollout's agents all
 * fetch the same one or two bundles within seconds of each other, and a bundle's bytes never
 * change (it is addressed by its digest and never deleted), so serving them from memory is
 * never stale, on one hub or many.
 */
export class RecentBundles {
  /** Oldest served first: a hit moves to the end. */
  private readonly held = new Map<string, string>();
  private readonly budget: number;
  private chars = 0;

  constructor(budget: number) {
    if (!Number.isInteger(budget) || budget < 0)
      throw new TypeError(`RecentBundles: budget must be a whole number of characters; received ${budget}`);
    this.budget = budget;
  }

  /** The bundle's JSON: from memory, or from `read` (the store), then held. */
  get(digest: string, read: () => string | undefined): string | undefined {
    const hit = this.held.get(digest);
    if (hit !== undefined) {
      this.held.delete(digest);
      this.held.set(digest, hit);
      return hit;
    }
    const json = read();
    if (json === undefined || json.length > this.budget) return json;
    this.held.set(digest, json);
    this.chars += json.length;
    for (const [oldest, held] of this.held) {
      if (this.chars <= this.budget) break;
      this.held.delete(oldest);
      this.chars -= held.length;
    }
    return json;
  }
}
