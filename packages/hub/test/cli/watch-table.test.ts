import { describe, expect, it } from 'vitest';
import { FlotillaError } from '@flotilla/protocol';
import { watchTable, type TableSnapshot } from '../../src/cli/watch-table.ts';

const header = ['ID', 'STATE', 'SEEN'];
const STOP = new Error('stop');

/** Runs the watch over `snapshots`, one per round, and answers what it wrote and warned. */
async function watch(snapshots: (TableSnapshot | Error)[], tty: boolean): Promise<{ out: string[]; err: string }> {
  const out: string[] = [];
  let err = '';
  let round = 0;
  await expect(
    watchTable(
      async () => {
        const next = snapshots[round]!;
        if (next instanceof Error) throw next;
        return next;
      },
      {
        everyMs: 2000,
        tty,
        title: 'flotilla targets ls',
        rows: 10,
        write: (text) => void out.push(text),
        warn: (text) => void (err += text),
        now: () => new Date(2025, 5, 1, 9, 30, 0),
        sleep: async () => {
          round++;
          if (round >= snapshots.length) throw STOP;
        },
      },
    ),
  ).rejects.toBe(STOP);
  return { out, err };
}

const row = (id: string, state: string, seen: string) => ({
  key: id,
  cells: [id, state, seen],
  signature: `${id} ${state}`,
});

describe('watching a listing', () => {
  it('prints the first listing whole when piped, then only the rows that appeared, changed or went away', async () => {
    const { out } = await watch(
      [
        { header, rows: [row('a', 'active', '1s'), row('b', 'active', '2s')] },
        // Only the age moved: no line.
        { header, rows: [row('a', 'active', '3s'), row('b', 'active', '4s')] },
        { header, rows: [row('a', 'disabled', '5s'), row('c', 'active', '1s')] },
      ],
      false,
    );
    expect(out.join('')).toBe(
      [
        'ID  STATE   SEEN',
        'a   active  1s',
        'b   active  2s',
        'a   disabled  5s',
        'c   active    1s',
        'b (gone)',
        '',
      ].join('\n'),
    );
  });

  it('redraws the whole table in place on a terminal, cut to its height', async () => {
    const many = Array.from({ length: 12 }, (_, i) => row(`t${String(i).padStart(2, '0')}`, 'active', '1s'));
    const { out } = await watch(
      [
        { header, rows: many.slice(0, 2) },
        { header, rows: many },
      ],
      true,
    );
    expect(out).toHaveLength(2);
    for (const screen of out)
      expect(screen.startsWith('\x1b[H\x1b[2Jflotilla targets ls: every 2s, 09:30:00\n\n')).toBe(true);
    expect(out[0]).toContain('t01  active  1s\n');
    const lines = out[1]!.split('\n');
    // 10 rows of terminal: title, blank, then 7 lines with the header, and a count of the rest.
    expect(lines.slice(2, -1)).toHaveLength(7);
    expect(lines.at(-2)).toBe('… 7 more');
  });

  it('says once that the hub cannot be reached and keeps asking; other errors end the watch', async () => {
    const { out, err } = await watch(
      [
        new FlotillaError('HUB_UNAVAILABLE', 'cannot reach the hub at http://127.0.0.1:1'),
        { header, rows: [row('a', 'active', '1s')], notes: ['the query matched nothing in region'] },
        { header, rows: [row('a', 'active', '1s')], notes: ['the query matched nothing in region'] },
      ],
      false,
    );
    expect(err).toBe(
      'warning: cannot reach the hub at http://127.0.0.1:1; trying again in 2s\nwarning: the query matched nothing in region\n',
    );
    expect(out.join('')).toBe('ID  STATE   SEEN\na   active  1s\n');
    const failure = new FlotillaError('UNAUTHENTICATED', 'token expired');
    await expect(
      watchTable(() => Promise.reject(failure), {
        everyMs: 1000,
        tty: false,
        title: 't',
        write: () => undefined,
        warn: () => undefined,
      }),
    ).rejects.toBe(failure);
  });
});
