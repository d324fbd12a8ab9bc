import { describe, expect, it } from 'vitest';
import { isFlotillaError, parseHubUrls } from '../src/index.ts';

function problem(value: string | string[]): string {
  try {
    parseHubUrls(value, '--hub');
  } catch (error) {
    if (isFlotillaError(error, 'CONFIG_INVALID')) return error.message;
    throw error;
  }
  throw new Error('no error');
}

describe('parseHubUrls', () => {
  it('reads one URL as a list of one, without its trailing slash', () => {
    expect(parseHubUrls('https://hub.example.com/', '--hub')).toEqual(['https://hub.example.com']);
  });

  it('reads a comma-separated list in order, spaces around the commas allowed', () => {
    expect(parseHubUrls('http://a:7070, http://b:7070 ,http://c:7070', '--hub')).toEqual([
      'http://a:7070',
      'http://b:7070',
      'http://c:7070',
    ]);
  });

  it('reads a repeated flag and lists within it alike, dropping duplicates', () => {
    expect(parseHubUrls(['http://a:1,http://b:2', 'http://a:1/', 'http://c:3'], '--hub')).toEqual([
      'http://a:1',
      'http://b:2',
      'http://c:3',
    ]);
  });

  it('keeps a path prefix, for a hub behind a proxy path', () => {
    expect(parseHubUrls('https://lb.example.com/flotilla/', '--hub')).toEqual(['https://lb.example.com/flotilla']);
  });

  it('names the entry that is not a URL, and the setting', () => {
    expect(problem('http://a:1,hub.example.com')).toBe(
      "--hub: 'hub.example.com' is not a URL; give absolute http(s) URLs such as https://hub.example.com",
    );
  });

  it('refuses a URL of another scheme, a query or a fragment', () => {
    expect(problem('ftp://a')).toBe("--hub: 'ftp://a' must use http or https");
    expect(problem('http://a/?x=1')).toBe("--hub: 'http://a/?x=1' must not have a query or a fragment");
    expect(problem('http://a/#top')).toBe("--hub: 'http://a/#top' must not have a query or a fragment");
  });

  it('refuses a list that names no hub', () => {
    expect(problem(' , ,')).toBe('--hub: names no hub; give one URL or several separated by commas');
  });
});
