import { signal } from '@preact/signals';

/** Where the app is: path and query of the address bar. */
export const location = signal({ path: window.location.pathname, search: window.location.search });

/** Goes to a page inside the app without reloading; `replace` keeps history clean while typing. */
export function navigate(to: string, replace = false): void {
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  location.value = { path: window.location.pathname, search: window.location.search };
  if (!replace) window.scrollTo(0, 0);
}

window.addEventListener('popstate', () => {
  location.value = { path: window.location.pathname, search: window.location.search };
});

/** Same-origin links of the app navigate in place; modified clicks open as usual. */
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
    return;
  const anchor = (event.target as Element | null)?.closest?.('a');
  if (anchor === null || anchor === undefined || anchor.target !== '' || anchor.hasAttribute('download')) return;
  const url = new URL(anchor.href, window.location.href);
  if (url.origin !== window.location.origin || url.pathname.startsWith('/v1/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

/** The value of one query parameter of the current address. */
export function param(name: string): string {
  return new URLSearchParams(location.value.search).get(name) ?? '';
}
