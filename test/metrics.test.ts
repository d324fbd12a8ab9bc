import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FLOTILLA, FLOTILLA_AGENT, start, type RunningProcess } from './fixtures/cli.ts';
import { api } from './fixtures/hub-fixture.ts';
import { promtool } from './fixtures/promtool.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

async function scrape(url: string): Promise<{ status: number; type: string; body: string }> {
  const response = await request(url);
  return {
    status: response.statusCode,
    type: String(response.headers['content-type']),
    body: await response.body.text(),
  };
}

/** The value of one sample (`name{labels}`) in exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics on a real hub and a real agent', () => {
  const processes: RunningProcess[] = [];
  let dir: { path: string; remove: () => void } | undefined;

  afterEach(async () => {
    for (const p of processes.splice(0)) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    dir?.remove();
  });

  it('serves exposition text that promtool accepts, with the fleet as the hub and the agent see it', async () => {
    dir = tempDir('flotilla-metrics-');
    const dataDir = join(dir.path, 'hub');
    const hub = start(process.execPath, [
      FLOTILLA,
      ...['hub', 'serve', '--data-dir', dataDir, '--port', '0', '--metrics-port', '0', '--turn-budget-ms', '20'],
    ]);
    processes.push(hub);
    const [listening] = await hub.waitFor(/\{[^\n]*"msg":"hub listening"[^\n]*\}/);
    const { url, metrics: hubMetrics } = JSON.parse(listening) as { url: string; metrics: string };
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const enroll = await api<{ token: string }>(url, 'POST', '/v1/enrollment-tokens', {
      token: adminToken,
      body: { maxUses: 1, labels: { env: 'test' } },
    });
    expect(enroll.status).toBe(201);

    const agent = start(process.execPath, [
      FLOTILLA_AGENT,
      ...['run', '--hub', url, '--enroll-token', enroll.body.token, '--name', 'edge-1'],
      ...['--state-dir', join(dir.path, 'state'), '--driver', 'manifests-dir', '--root', join(dir.path, 'root')],
      ...['--metrics-port', '0', '--wait-seconds', '30'],
    ]);
    processes.push(agent);
    const [, port] = await agent.waitFor(
      /"url":"http:\/\/[^"]*:(\d+)\/metrics"[^\n]*"msg":"metrics endpoint listening"/,
    );
    const agentMetrics = `http://127.0.0.1:${port}/metrics`;

    // The agent enrolled, reported once and holds its push stream (it fetches with wait=0, so no long-poll).
    const hubText = await waitFor('the hub to count the agent connected and its report accepted', async () => {
      const { body } = await scrape(hubMetrics);
      return sample(body, 'flotilla_connected_agents{transport="stream"}') === 1 &&
        (sample(body, 'flotilla_reports_accepted_total') ?? 0) >= 1 &&
        // The agent's contact, written by the last-seen flush: work the turn budget times.
        (sample(body, 'flotilla_turn_work_seconds_count') ?? 0) >= 1
        ? body
        : undefined;
    });
    const agentText = await waitFor('the agent to count a successful sync pass', async () => {
      const { body } = await scrape(agentMetrics);
      return (sample(body, 'flotilla_agent_sync_passes_total{result="success"}') ?? 0) >= 1 ? body : undefined;
    });

    for (const text of [hubText, agentText])
      expect(await promtool(['check', 'metrics'], text)).toEqual({ code: 0, output: '' });
    expect(sample(hubText, 'flotilla_connected_agents{transport="long-poll"}')).toBe(0);
    expect(sample(hubText, 'flotilla_targets{status="active"}')).toBe(1);
    expect(sample(hubText, 'flotilla_agents_not_seen')).toBe(0);
    expect(sample(hubText, 'flotilla_audit_appends_total')).toBeGreaterThanOrEqual(2);
    expect(sample(hubText, 'flotilla_audit_unsigned_entries')).toBeGreaterThanOrEqual(2);
    expect(sample(hubText, 'flotilla_drift_items{class="dangerous"}')).toBe(0);
    expect(sample(hubText, 'flotilla_rollouts{state="paused"}')).toBe(0);
    // The query index was built before the hub listened.
    expect(sample(hubText, 'flotilla_query_index_build_seconds')).toBeGreaterThan(0);
    expect(sample(hubText, 'flotilla_store_transaction_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(sample(hubText, 'flotilla_turn_budget_seconds')).toBe(0.02);
    // Exported for a SQLite store (undefined, absent, on PostgreSQL); a new one has little or nothing free.
    expect(sample(hubText, 'flotilla_store_free_bytes')).toBeGreaterThanOrEqual(0);
    expect(sample(hubText, 'flotilla_store_free_bytes')).toBeLessThan(2 ** 20);
    // The WAL file of the hub's SQLite store, there while the hub runs.
    expect(sample(hubText, 'flotilla_store_wal_bytes')).toBeGreaterThan(0);
    // Routes by pattern: no target id ever becomes a label value.
    expect(
      sample(hubText, 'flotilla_http_requests_total{method="POST",route="/v1/targets/:id/reports",status="201"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(hubText).not.toMatch(/tgt_[0-9a-f]/);
    expect(sample(agentText, 'flotilla_agent_journal_depth')).toBe(0);
    expect(sample(agentText, 'flotilla_agent_last_successful_sync_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 60,
    );
    expect(agentText).toContain('process_resident_memory_bytes');
  });

  it('keeps /metrics off the API port, behind which every route needs a token', async () => {
    dir = tempDir('flotilla-metrics-');
    const hub = start(process.execPath, [
      FLOTILLA,
      ...['hub', 'serve', '--data-dir', join(dir.path, 'hub'), '--port', '0', '--metrics-port', '0'],
    ]);
    processes.push(hub);
    const [listening] = await hub.waitFor(/\{[^\n]*"msg":"hub listening"[^\n]*\}/);
    const { url, metrics } = JSON.parse(listening) as { url: string; metrics: string };
    expect((await scrape(`${url}/metrics`)).status).toBe(404);
    const served = await scrape(metrics);
    expect(served).toMatchObject({ status: 200, type: expect.stringContaining('text/plain; version=0.0.4') });
    expect((await scrape(metrics.replace('/metrics', '/other'))).status).toBe(404);
  });
});
