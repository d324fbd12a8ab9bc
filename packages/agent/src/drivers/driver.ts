import type { Facts, Health, Resource } from '@flotilla/protocol';

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

/**
 * How the agent changes and reads a substrate. A driver owns only what Flotilla applied: it
 * applies the desired resources, prunes the ones it applied earlier that left the desired
 * set, and never touches anything else.
 */
export interface Driver {
  readonly name: string;
  /** Facts about the substrate for the target record: versions, size, capabilities, provider. */
  facts(): Promise<Facts>;
  /** Makes the managed set equal `desired`: applies every resource, prunes the ones that left. */
  apply(desired: readonly Resource[]): Promise<AppliedResource[]>;
  /** Reads each desired resource back, with its health. */
  observe(desired: readonly Resource[]): Promise<ObservedResource[]>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
