import type { Facts, Health, Resource } from '@flotilla/protocol';
import type { LiveObject } from '@flotilla/protocol/drift';

/** One resource as a driver found it on the target. */
export interface ObservedResource {
  readonly key: string;
  /** What is there now, or null when it is absent. */
  readonly live: Record<string, unknown> | null;
  readonly health: Health;
  readonly message?: string;
}

export interface AppliedResource {
  readonly key: string;
  readonly status: 'applied' | 'failed' | 'pruned';
  readonly message?: string;
}

/** How to apply: which resources (by key) may take back fields another writer changed. */
export interface DriverApplyOptions {
  readonly force?: ReadonlySet<string>;
}

/**
 * Puts drifted resources back (`Driver.repair`). `remove` names, by resource key, drift paths
 * someone added that the desired resource does not have (a privileged flag, an extra
 * container): re-applying the resource alone does not take those away.
 */
export interface DriverRepairOptions {
  readonly remove?: ReadonlyMap<string, readonly string[]>;
}

/**
 * How the agent changes and reads a substrate. A driver owns only what Flotilla applied: it
 * applies the desired resources, prunes the ones it applied earlier that left the desired
 * set, and never touches anything else.
 */
export interface Driver {
  readonly name: string;
  /** Facts about the substrate for the target record: versions, size, capabilities, provider. */
  facts(): Promise<Facts>;
  /**
   * Makes the managed set equal `desired`: applies every resource, prunes the ones that left.
   * `force` names resources whose fields Flotilla takes back from other writers (drift the
   * policy reverts); other writers' changes are otherwise left alone.
   */
  apply(desired: readonly Resource[], options?: DriverApplyOptions): Promise<AppliedResource[]>;
  /** Reads each desired resource back, with its health. */
  observe(desired: readonly Resource[]): Promise<ObservedResource[]>;
  /**
   * Re-applies exactly these resources, taking their fields back from whoever changed them,
   * without pruning anything: how the agent reverts drift. Drivers without it cannot revert.
   */
  repair?(resources: readonly Resource[], options?: DriverRepairOptions): Promise<AppliedResource[]>;
  /**
   * Live objects Flotilla applied earlier that are not in `desired` and are still there (a prune
   * that could not finish): reported as `extra-resource` drift.
   */
  extras?(desired: readonly Resource[]): Promise<LiveObject[]>;
  /** The field managers the driver writes as, so that its own fields are never drift. */
  readonly selfManagers?: readonly string[];
  /** Releases connections and timers. */
  close(): Promise<void>;
}
