import { ApiError } from '../api.ts';

/** An error answer shown where the data would be, with its code. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : JSON.stringify(error);
  const code = error instanceof ApiError ? error.code : undefined;
  return (
    <p class="error-note" role="alert">
      {code === undefined ? null : <code>{code}</code>} {message}
    </p>
  );
}
