import { signal } from '@preact/signals';

export type Theme = 'light' | 'dark';

const KEY = 'flotilla-theme';

function initial(): Theme {
  const saved = window.localStorage.getItem(KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** The colour theme: the system's until the viewer picks one, then theirs (only the choice is stored). */
export const theme = signal<Theme>(initial());

export function applyTheme(): void {
  document.documentElement.dataset['theme'] = theme.value;
}

export function toggleTheme(): void {
  theme.value = theme.value === 'dark' ? 'light' : 'dark';
  window.localStorage.setItem(KEY, theme.value);
  applyTheme();
}
