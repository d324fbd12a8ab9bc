import { describe, expect, it } from 'vitest';
import { serveConfig } from '../../../src/config.ts';

describe("the report intake's worker threads in the hub's configuration", () => {
  it('are read from --report-workers or FLOTILLA_REPORT_WORKERS, 0 meaning none, unset the default', () => {
    expect(serveConfig({}, { FLOTILLA_REPORT_WORKERS: '2' }).reportWorkers).toBe(2);
    expect(serveConfig({ reportWorkers: '0' }, { FLOTILLA_REPORT_WORKERS: '2' }).reportWorkers).toBe(0);
    expect(serveConfig({}, {}).reportWorkers).toBeUndefined();
  });

  it.each(['-1', 'many', '1.5', '65'])('refuses FLOTILLA_REPORT_WORKERS=%s, naming the rule', (value) => {
    expect(() => serveConfig({}, { FLOTILLA_REPORT_WORKERS: value })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringMatching(/reportWorkers.*whole number of worker threads from 0 to 64/),
      }),
    );
  });
});
