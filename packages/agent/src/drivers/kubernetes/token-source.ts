import { readFile, stat } from 'node:fs/promises';
import { FlotillaError } from '@flotilla/protocol';
import type { TokenSource } from './cluster-connection.ts';

/** A token that never changes, from a kubeconfig `token` field. */
export function staticToken(token: string): TokenSource {
  if (token.trim() === '') throw new TypeError('staticToken: expected a non-empty token');
  return { token: async () => token, refresh: async () => false };
}

export interface FileTokenSourceOptions {
  /** How often, at most, to look at the file's modification time. Default 60 s, as client-go. */
  readonly recheckMs?: number;
  readonly now?: () => number;
}

/**
 * A token read from a file, such as the projected service-account token that the kubelet
 * rotates (by swapping a symlink) long before the old one expires. The file is read again when
 * its modification time, size or inode changes (looked at no more than every `recheckMs`), and
 * always on `refresh`, which the client calls after a 401.
 */
export class FileTokenSource implements TokenSource {
  private readonly path: string;
  private readonly recheckMs: number;
  private readonly now: () => number;
  private cached: string | undefined;
  private signature = '';
  private checkedAt = Number.NEGATIVE_INFINITY;

  constructor(path: string, options: FileTokenSourceOptions = {}) {
    if (path === '') throw new TypeError('FileTokenSource: expected the path of a token file');
    const recheckMs = options.recheckMs ?? 60_000;
    if (!Number.isFinite(recheckMs) || recheckMs < 0)
      throw new TypeError(
        `FileTokenSource: recheckMs must be a number of milliseconds >= 0, received ${String(options.recheckMs)}`,
      );
    this.path = path;
    this.recheckMs = recheckMs;
    this.now = options.now ?? Date.now;
  }

  async token(): Promise<string> {
    const now = this.now();
    if (this.cached === undefined || now - this.checkedAt >= this.recheckMs) {
      this.checkedAt = now;
      const signature = await this.fileSignature();
      if (this.cached === undefined || signature !== this.signature) await this.read(signature);
    }
    return this.cached ?? '';
  }

  async refresh(): Promise<boolean> {
    const before = this.cached;
    this.checkedAt = this.now();
    await this.read(await this.fileSignature());
    return this.cached !== before;
  }

  private async fileSignature(): Promise<string> {
    try {
      const info = await stat(this.path);
      return `${info.ino}:${info.size}:${info.mtimeMs}`;
    } catch (error) {
      throw this.unreadable(error);
    }
  }

  private async read(signature: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      throw this.unreadable(error);
    }
    const token = text.trim();
    if (token === '')
      throw new FlotillaError(
        'CONFIG_INVALID',
        `the token file ${this.path} is empty; expected a bearer token such as a service-account token`,
      );
    this.cached = token;
    this.signature = signature;
  }

  private unreadable(error: unknown): FlotillaError {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    return new FlotillaError(
      'CONFIG_INVALID',
      `cannot read the token file ${this.path} (${code}); mount the service-account token or point the agent at a kubeconfig`,
    );
  }
}
