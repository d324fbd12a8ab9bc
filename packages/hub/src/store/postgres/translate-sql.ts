/**
 * A statement written with SQLite's parameters (`?` in order, or `@name`) as PostgreSQL's
 * (`$1`, `$2`, …). Quoted strings, quoted names and comments are copied as they are, and `::`
 * casts are not parameters. A name used twice is one parameter.
 */
export interface TranslatedSql {
  readonly text: string;
  /** The named parameters in `$n` order; empty when the statement takes positional ones. */
  readonly names: readonly string[];
  /** How many positional parameters (`?`) it takes. */
  readonly positional: number;
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

export function translateSql(source: string): TranslatedSql {
  let text = '';
  const names: string[] = [];
  let positional = 0;
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === "'" || c === '"') {
      const end = closingQuote(source, i, c);
      text += source.slice(i, end);
      i = end;
    } else if (c === '-' && source[i + 1] === '-') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      text += source.slice(i, stop);
      i = stop;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      text += source.slice(i, stop);
      i = stop;
    } else if (c === '?') {
      positional++;
      text += `$${positional}`;
      i++;
    } else if (c === '@') {
      NAME.lastIndex = i + 1;
      const match = NAME.exec(source);
      if (match === null) throw new SyntaxError(`a parameter name must follow @ at offset ${i}: ${source}`);
      let index = names.indexOf(match[0]);
      if (index === -1) index = names.push(match[0]) - 1;
      text += `$${index + 1}`;
      i += 1 + match[0].length;
    } else {
      text += c;
      i++;
    }
  }
  if (positional > 0 && names.length > 0)
    throw new SyntaxError(`a statement takes either ? or @name parameters, not both: ${source}`);
  return { text, names, positional };
}

function closingQuote(source: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < source.length) {
    if (source[i] === quote) {
      // A doubled quote is the quote itself, inside the string.
      if (source[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return source.length;
}
