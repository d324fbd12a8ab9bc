/**
 * Versions as sortable strings.
 *
 * The same key orders versions in memory (plain string comparison) and in SQLite (BINARY
 * collation on a TEXT column), so both evaluation paths agree by construction. A key is
 * ASCII only, where UTF-16 and UTF-8 order coincide.
 *
 * A number is written as one character for its digit count (`1`…`9`, then `:` `;` `<` `=`
 * `>` `?` for 10 to 15 digits) followed by its digits, so that longer numbers sort after
 * shorter ones and numbers of one length sort by their digits: `4.2.0` is `14.12.10.~`.
 * Layout: major, minor and patch so written, each followed by `.`; then `~` for a release,
 * or `-` and the prerelease identifiers for a prerelease. `~` sorts after `-`, so
 * `1.0.0-rc.1` < `1.0.0`, as semver requires. Prerelease identifiers are separated by `,`
 * (lower than every identifier character, so a shorter list sorts first); a numeric
 * identifier is `0` and the number, an alphanumeric one is `1` and its text, so numbers sort
 * numerically and before words. Build metadata does not take part in precedence.
 */

import { looksLikeDate } from './time-value.ts';

const VERSION =
  /^[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
const MAX_DIGITS = 15;

function encodeNumber(digits: string): string | null {
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  return trimmed.length > MAX_DIGITS ? null : `${String.fromCharCode(0x30 + trimmed.length)}${trimmed}`;
}

/**
 * The sortable key of a version, or `null` when the text is not a version. Partial versions
 * are completed with zeros (`4.2` is `4.2.0`), a leading `v` is dropped, and leading zeros
 * are read as numbers. Numbers longer than fifteen digits are not versions, and neither are
 * dates (`2025-06-15`).
 *
 * @example versionKey('v1.29.3') === versionKey('1.29.3+build.7')
 * @example versionKey('4.2')! < versionKey('4.10')!
 */
export function versionKey(text: string): string | null {
  const match = VERSION.exec(text);
  // 2025-06-15 fits the grammar (2025 with prerelease 06-15) but is a date, never a version.
  if (match === null || looksLikeDate(text)) {
    return null;
  }
  const core: string[] = [];
  for (const part of [match[1], match[2], match[3]]) {
    const encoded = encodeNumber(part ?? '0');
    if (encoded === null) {
      return null;
    }
    core.push(`${encoded}.`);
  }
  const prerelease = match[4];
  if (prerelease === undefined) {
    return `${core.join('')}~`;
  }
  const identifiers: string[] = [];
  for (const identifier of prerelease.split('.')) {
    if (/^\d+$/.test(identifier)) {
      const encoded = encodeNumber(identifier);
      if (encoded === null) {
        return null;
      }
      identifiers.push(`0${encoded}`);
    } else {
      identifiers.push(`1${identifier}`);
    }
  }
  return `${core.join('')}-${identifiers.join(',')}`;
}

/**
 * For a partial version without a prerelease (`4`, `4.2`, `v4.2`, and `1.28+k3s1`, since
 * build metadata never counts), the key prefix every version of that line starts with;
 * `null` for anything else. Equality with a partial version on a version field means "any
 * version of that line", as in semver X-ranges; a prerelease names one version, so
 * `4.2-rc.1` is exactly `4.2.0-rc.1` and has no line.
 *
 * @example versionLinePrefix('4.2') === '14.12.'
 * @example versionLinePrefix('1.28+k3s1') === versionLinePrefix('1.28')
 */
export function versionLinePrefix(text: string): string | null {
  const match = /^[vV]?(\d+)(?:\.(\d+))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/.exec(text);
  if (match === null) {
    return null;
  }
  const parts: string[] = [];
  for (const part of [match[1], match[2]]) {
    if (part === undefined) {
      continue;
    }
    const encoded = encodeNumber(part);
    if (encoded === null) {
      return null;
    }
    parts.push(`${encoded}.`);
  }
  return parts.join('');
}
