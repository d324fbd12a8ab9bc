import { signal } from '@preact/signals';
import type { z } from 'zod';
import { DashboardSession, lenient } from '@flotilla/protocol/api';
import type { SessionInfo } from './types.ts';

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
    return new ApiError(
      status,
      error.code,
      typeof error.message === 'string' ? error.message : error.code,
      (error.details ?? undefined) as Record<string, unknown> | undefined,
    );
  }
  return new ApiError(status, 'HTTP_' + status, `the hub answered ${status}`);
}

/**
 * Calls the hub's API with the session cookie and reads the answer with the protocol's schema
 * of it, leniently (unknown fields dropped, so an older page reads a newer hub); `null` for
 * answers without a body. State-changing calls carry the session's CSRF token. A 401 means
 * the session is gone: the app shows the sign-in page.
 */
export async function api<S extends z.ZodType>(
  method: string,
  path: string,
  schema: S | null,
  body?: unknown,
): Promise<z.output<S>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const csrf = session.value?.csrfToken;
  if (method !== 'GET' && csrf !== undefined) headers['x-flotilla-csrf'] = csrf;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
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
  if (schema === null) return undefined as z.output<S>;
  const read = lenient(schema).safeParse(parsed);
  if (!read.success)
    throw new ApiError(
      response.status,
      'ANSWER_UNREADABLE',
      `the hub's answer to ${method} ${path.split('?')[0]} does not read as expected: ${read.error.issues[0]?.path.join('.') ?? ''} ${read.error.issues[0]?.message ?? ''}`,
    );
  return read.data;
}

/** `GET` with query parameters; empty and undefined values are left out. */
export function get<S extends z.ZodType>(
  path: string,
  schema: S,
  params: Record<string, string | number | undefined> = {},
): Promise<z.output<S>> {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(key, String(value));
  const query = search.toString();
  return api('GET', query === '' ? path : `${path}?${query}`, schema);
}

/** Signs in with an operator API token; the hub answers the session and sets its cookie. */
export function signIn(token: string): Promise<SessionInfo> {
  return api('POST', '/v1/session', DashboardSession, { token });
}

/** Whether the signed-in role may use deploy actions (pause, resume, abort, rollback, incidents, revert). */
export function canDeploy(): boolean {
  const role = session.value?.role;
  return role === 'deployer' || role === 'admin';
}

/** Whether the signed-in role may record approvals (approver, admin); deployers may not. */
export function canApprove(): boolean {
  const role = session.value?.role;
  return role === 'approver' || role === 'admin';
}

/** Whether the signed-in role is admin: the audit chain's verification and export. */
export function isAdmin(): boolean {
  return session.value?.role === 'admin';
}
