/** A flag given more than once, as one comma-separated list: `--hub a --hub b` is `--hub a,b`. */
export function joinRepeated(value: string, previous: string | undefined): string {
  return previous === undefined ? value : `${previous},${value}`;
}
