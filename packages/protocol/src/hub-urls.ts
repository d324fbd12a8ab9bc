import { FlotillaError } from './errors.ts';

/**
 * The hub URLs of a setting that names one hub or several replicas: a comma-separated list (a
 * flag given more than once arrives joined with commas), in order of preference. Each must be
 * an absolute http(s) URL; it is returned without a trailing slash, duplicates dropped. An
 * empty list or a URL that is not one is a `CONFIG_INVALID` naming the setting and the entry.
 */
export function parseHubUrls(value: string | readonly string[], setting: string): string[] {
  const entries = (typeof value === 'string' ? [value] : value).flatMap((part) => part.split(','));
  const urls: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw invalid(setting, `'${entry}' is not a URL; give absolute http(s) URLs such as https://hub.example.com`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw invalid(setting, `'${entry}' must use http or https`);
    if (url.search !== '' || url.hash !== '') throw invalid(setting, `'${entry}' must not have a query or a fragment`);
    const base = url.href.replace(/\/$/, '');
    if (!urls.includes(base)) urls.push(base);
  }
  if (urls.length === 0) throw invalid(setting, 'names no hub; give one URL or several separated by commas');
  return urls;
}

function invalid(setting: string, problem: string): FlotillaError {
  return new FlotillaError('CONFIG_INVALID', `${setting}: ${problem}`);
}
