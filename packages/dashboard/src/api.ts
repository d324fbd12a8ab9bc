import { signal } from '@preact/signals';

/** The signed-in operator, as `GET /v1/session` answers. */
export interface SessionInfo {
  readonly name: string;
  readonly role: 'viewer' | 'deployer' | 'approver' | 'admin';
  readonly csrfToken: string;
  readonly expiresAt: string;
}

/** The current session; undefined while unknown, null when signed out. */
export const session = signal<SessionInfo | null | undefined>(undefined);

/** An error answer of the hub: `{ error: { code, message, details } }`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(status: number, code: string, message: string, details?: Readonly<Record<string, unknown>>) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function errorOf(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (error !== undefined && typeof error.code === 'string') {
    return new ApiError(status, error.code, typeof error.message === 'string' ? error.message : error.code, (error.details ?? undefined) as Record<string, unknown> | undefined);
  }
  return new ApiError(status, 'HTTP_' + status, `the hub answered ${status}`);
}

/**
 * Calls the hub's API with the session cookie. State-changing calls carry the session's
 * CSRF token. A 401 means the session is gone: the app shows the sign-in page.
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const csrf = session.value?.csrfToken;
  if (method !== 'GET' && csrf !== undefined) headers['x-flotilla-csrf'] = csrf;
  const response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = errorOf(response.status, parsed);
    if (response.status === 401 && path !== '/v1/session') session.value = null;
    throw error;
  }
  return parsed as T;
}

/** `GET` with query parameters; empty and undefined values are left out. */
export function get<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(key, String(value));
  const query = search.toString();
  return api<T>('GET', query === '' ? path : `${path}?${query}`);
}

/** Whether the signed-in role may use deploy actions (pause, resume, abort, rollback, incidents, revert). */
export function canDeploy(): boolean {
  const role = session.value?.role;
  return role === 'deployer' || role === 'admin';
}

export function isAdmin(): boolean {
  return session.value?.role === 'admin';
}
