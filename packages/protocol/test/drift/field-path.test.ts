import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatFieldPath, parseFieldPath, type PathSegment } from '../../src/drift/index.ts';

const field = (name: string): PathSegment => ({ kind: 'field', name });
const key = (...keys: [string, string][]): PathSegment => ({ kind: 'key', keys });
const index = (i: number): PathSegment => ({ kind: 'index', index: i });

describe('formatFieldPath and parseFieldPath', () => {
  it.each<[string, PathSegment[]]>([
    ['', []],
    ['spec.replicas', [field('spec'), field('replicas')]],
    [
      'spec.template.spec.containers[name=app].image',
      [field('spec'), field('template'), field('spec'), field('containers'), key(['name', 'app']), field('image')],
    ],
    [
      'spec.containers[name=app].ports[containerPort=8080].name',
      [
        field('spec'),
        field('containers'),
        key(['name', 'app']),
        field('ports'),
        key(['containerPort', '8080']),
        field('name'),
      ],
    ],
    ['spec.ports[port=53,protocol=UDP]', [field('spec'), field('ports'), key(['port', '53'], ['protocol', 'UDP'])]],
    [
      'spec.containers[name=app].volumeMounts[mountPath=/var/run/app.sock]',
      [
        field('spec'),
        field('containers'),
        key(['name', 'app']),
        field('volumeMounts'),
        key(['mountPath', '/var/run/app.sock']),
      ],
    ],
    ['spec.args[2]', [field('spec'), field('args'), index(2)]],
    ['subjects[0].name', [field('subjects'), index(0), field('name')]],
    [
      'metadata.labels["app.kubernetes.io/name"]',
      [field('metadata'), field('labels'), field('app.kubernetes.io/name')],
    ],
    ['data["config.yaml"]', [field('data'), field('config.yaml')]],
    ['data[""]', [field('data'), field('')]],
    ['spec.x[name="a]b,c=d"]', [field('spec'), field('x'), key(['name', 'a]b,c=d'])]],
    ['rules[0].verbs[3]', [field('rules'), index(0), field('verbs'), index(3)]],
  ])('%s', (path, segments) => {
    expect(formatFieldPath(segments)).toBe(path);
    expect(parseFieldPath(path)).toEqual(segments);
  });

  it.each([
    ['spec..replicas'],
    ['spec.'],
    ['.spec'],
    ['spec[01]'],
    ['spec[name]'],
    ['spec[name=a'],
    ['spec["unterminated]'],
    ['spec["x"'],
    ['spec[name=a]x'],
    ['spec.a b'],
    ['spec[=a]'],
  ])('refuses %s with DRIFT_PATH_INVALID', (path) => {
    expect(() => parseFieldPath(path)).toThrow(expect.objectContaining({ code: 'DRIFT_PATH_INVALID' }));
  });

  it('parses back every path it formats', () => {
    const segment: fc.Arbitrary<PathSegment> = fc.oneof(
      fc.string().map((name): PathSegment => ({ kind: 'field', name })),
      fc.nat({ max: 10_000 }).map((i): PathSegment => ({ kind: 'index', index: i })),
      fc
        .array(fc.tuple(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), fc.string()), {
          minLength: 1,
          maxLength: 3,
        })
        .map((keys): PathSegment => ({ kind: 'key', keys })),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (segments) => {
        expect(parseFieldPath(formatFieldPath(segments))).toEqual(segments);
      }),
    );
  });
});
