import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator } from 'playwright-core';
import { stringify } from 'yaml';
import type { Resource } from '@flotilla/protocol';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import { manifestFileName } from '@flotilla/agent';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { accessibilityProblems, launchBrowser, screenshot, type BrowserFixture } from './fixtures/browser.ts';
import { waitFor } from './fixtures/wait-for.ts';

let VIEWER_TOKEN = '';
const UI_MS = 15_000;

let hub: HubFixture;
let browser: BrowserFixture;
const agents: AgentFixture[] = [];
const app = (greeting: string): Resource => configMap('app', { greeting });

async function expectAccessible(name: string): Promise<void> {
  expect(await accessibilityProblems(browser.page), `axe on ${name}`).toEqual([]);
}

/** Dispatches keydowns in one task, so the page cannot render between them. */
async function pressAtOnce(input: Locator, keys: readonly string[]): Promise<void> {
  await input.evaluate((element, all) => {
    // The tests compile without the DOM's types; this runs in the page, which has them.
    const { KeyboardEvent } = globalThis as unknown as { KeyboardEvent: new (type: string, init: object) => Event };
    for (const key of all)
      element.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true }));
  }, keys);
}

/**
 * Goes to a page from the main navigation and types into one of its fields in the very task
 * that adds the field, before the page's effects have run (a person typing while the page
 * loads, or a loaded machine, does the same), then lets the page settle.
 */
async function typeTheMomentItAppears(link: string, selector: string, text: string): Promise<void> {
  const { page } = browser;
  await page.goto(`${hub.url}/`);
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.waitFor({ timeout: UI_MS });
  await page.evaluate(
    ([selector, text]) => {
      // The tests compile without the DOM's types; this runs in the page, which has them.
      const { document, MutationObserver, Event } = globalThis as unknown as {
        document: { body: object; querySelector(s: string): { value: string; dispatchEvent(e: object): void } | null };
        MutationObserver: new (callback: () => void) => {
          observe(node: object, options: object): void;
          disconnect(): void;
        };
        Event: new (type: string, init: object) => object;
      };
      const observer = new MutationObserver(() => {
        const input = document.querySelector(selector);
        if (input === null) return;
        observer.disconnect();
        input.value = text;
        input.dispatchEvent(new Event('input', { bubbles: true }));
      });
      observer.observe(document.body, { childList: true, subtree: true });
    },
    [selector, text] as const,
  );
  await nav.getByRole('link', { name: link }).click();
  await page.locator(selector).waitFor({ timeout: UI_MS });
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 300)));
}

async function signIn(token: string): Promise<void> {
  const { page } = browser;
  await page.goto(`${hub.url}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor({ timeout: UI_MS });
}

beforeAll(async () => {
  hub = await startHub();
  // Drift counts one second after Flotilla's own writes instead of two minutes (docs/drift.md).
  const policy = await api(hub.url, 'PUT', '/v1/drift-policy', {
    token: hub.adminToken,
    body: { rules: defaultDriftPolicy.rules, settings: { gracePeriodSeconds: 1 } },
  });
  expect(policy.status).toBe(200);
  const viewer = await api(hub.url, 'POST', '/v1/tokens', {
    token: hub.adminToken,
    body: { name: 'vera', role: 'viewer' },
  });
  expect(viewer.status).toBe(201);
  VIEWER_TOKEN = (viewer.body as { token: string }).token;
  const token = await hub.enrollmentToken(3, { fleet: 'browser' });
  const regions = ['eu-west-1', 'eu-central-1', 'us-east-1'];
  for (let i = 0; i < 3; i++) {
    const agent = await startAgent(hub.url, token, { name: `web-${i + 1}`, observeIntervalMs: 200 });
    agents.push(agent);
    await api(hub.url, 'PATCH', `/v1/targets/${agent.targetId}/properties`, {
      token: hub.adminToken,
      body: { set: { region: regions[i], tier: i === 2 ? 'staging' : 'production' } },
    });
  }
  await hub.publish('web', '1.0.0', [app('hello')]);
  for (const agent of agents) expect((await hub.assign(agent.targetId, ['web@1.0.0'])).status).toBe(200);
  await waitFor('every agent to report web@1.0.0 healthy', async () => {
    const answer = await api<{ items: { observed: { health: string; bundles: { version: string }[] } | null }[] }>(
      hub.url,
      'GET',
      '/v1/targets?q=fleet%3Dbrowser',
      { token: hub.adminToken },
    );
    return answer.body.items.every(
      (t) => t.observed?.health === 'healthy' && t.observed.bundles[0]?.version === '1.0.0',
    );
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(agents.map((a) => a.agent.stop()));
  await hub?.dispose();
});

describe('the dashboard in a real browser against a real hub and agents', () => {
  it('signs in with an API token and shows the fleet overview with clickable counts', async () => {
    const { page } = browser;
    await signIn(hub.adminToken);
    await page.getByTestId('overview-ready').waitFor();
    await expect
      .poll(() => page.getByRole('link', { name: /Region eu-west-1\s*:\s*1 targets/ }).count(), { timeout: UI_MS })
      .toBe(1);
    await expect.poll(() => page.locator('.live').textContent(), { timeout: UI_MS }).toBe('live');
    await screenshot(page, 'overview');
    await expectAccessible('overview');
    await page.getByRole('link', { name: /Tier staging\s*:\s*1 targets/ }).click();
    await page.waitForURL(/\/targets\?q=tier%3Dstaging$/);
    await expect.poll(() => page.getByTestId('target-total').textContent(), { timeout: UI_MS }).toBe('1 target match');
  });

  it('shows a query error with its caret and a suggestion, then the table for a good query', async () => {
    const { page } = browser;
    await page.goto(`${hub.url}/targets`);
    const input = page.getByLabel('Fleet query');
    await input.fill('regoin=eu-*');
    await input.press('Enter');
    const caret = page.getByTestId('query-caret');
    await caret.waitFor({ timeout: UI_MS });
    expect(await caret.textContent()).toBe('regoin=eu-*\n^');
    await expect.poll(() => page.getByRole('button', { name: 'region' }).count()).toBe(1);
    await screenshot(page, 'targets-query-error');
    await expectAccessible('targets with a query error');
    await page.getByRole('button', { name: 'region' }).click();
    await expect.poll(() => page.getByTestId('target-total').textContent(), { timeout: UI_MS }).toBe('2 targets match');
    expect(page.url()).toBe(`${hub.url}/targets?q=${encodeURIComponent('region=eu-*')}`);
    expect(await page.getByRole('row').filter({ hasText: 'web-3' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Name' }).click();
    await page.waitForURL(/order=desc/);
    await expect
      .poll(() => page.locator('.viewport [role=row] a').first().textContent(), { timeout: UI_MS })
      .toBe('web-2');
  });

  it('keeps what was typed into the query bar the moment it appeared', async () => {
    await typeTheMomentItAppears('Targets', '#query-input', 'regoin=eu-*');
    expect(await browser.page.getByLabel('Fleet query').inputValue()).toBe('regoin=eu-*');
  });

  it('keeps what was typed into the audit filters the moment they appeared', async () => {
    await typeTheMomentItAppears('Audit', '#f-action', 'rollout.*');
    expect(await browser.page.getByLabel('Action (exact, or a family such as rollout.*)').inputValue()).toBe(
      'rollout.*',
    );
  });

  it('completes field names and values in the query bar from the keyboard', async () => {
    const { page } = browser;
    await page.goto(`${hub.url}/targets`);
    const input = page.getByLabel('Fleet query');
    await input.click();
    await input.pressSequentially('ti');
    await page.getByRole('option', { name: 'tier' }).waitFor({ timeout: UI_MS });
    // Keys typed faster than the page renders: the second must see what the first chose.
    await pressAtOnce(input, ['ArrowDown', 'Enter']);
    expect(await input.inputValue()).toBe('tier');
    await input.pressSequentially('=st');
    await page.getByRole('option', { name: /staging/ }).waitFor({ timeout: UI_MS });
    await pressAtOnce(input, ['ArrowDown', 'Tab']);
    expect(await input.inputValue()).toBe('tier=staging');
    await input.press('Enter');
    await expect.poll(() => page.getByTestId('target-total').textContent(), { timeout: UI_MS }).toBe('1 target match');
    await screenshot(page, 'targets');
    await expectAccessible('targets');
  });

  it('opens a target: its record, drift and history from the audit trail', async () => {
    const { page } = browser;
    await page.locator('.viewport [role=row] a', { hasText: 'web-3' }).click();
    await page.getByRole('heading', { name: /web-3/ }).waitFor({ timeout: UI_MS });
    expect(await page.getByText('us-east-1').count()).toBeGreaterThan(0);
    await expect
      .poll(
        () =>
          page
            .getByRole('table', { name: /Audit entries naming this target/ })
            .getByText('target.assign')
            .count(),
        { timeout: UI_MS },
      )
      .toBeGreaterThan(0);
    await screenshot(page, 'target', true);
    await expectAccessible('target');
  });

  it('starts a rollout and follows it live to completion', async () => {
    const { page } = browser;
    // web-3 is away while the rollout starts, so the page first shows it waiting.
    const away = agents[2]!;
    await away.agent.stop();
    await hub.publish('web', '1.1.0', [app('hello again')]);
    await page.goto(`${hub.url}/rollouts`);
    await page.getByLabel('Release').selectOption('web@1.1.0');
    await page.getByLabel(/Targets \(fleet query/).fill('fleet=browser');
    await page.getByLabel('Waves').fill('canary:34%,rest:100%');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await page.waitForURL(/\/rollouts\/ro_/, { timeout: UI_MS });
    const heading = page.getByRole('heading', { name: /Rollout of web@1\.1\.0/ });
    await heading.getByText('running').waitFor({ timeout: UI_MS });
    await expect
      .poll(() => page.getByTestId('wave-counts').first().textContent(), { timeout: UI_MS })
      .toMatch(/^[0-2]\/3 applied/);
    await page.evaluate(() => Object.assign(globalThis, { stillTheSamePage: true }));
    agents[2] = await startAgent(hub.url, 'fl_enroll_unused-after-enrollment', {
      dir: dirname(away.stateDir),
      observeIntervalMs: 200,
    });
    await heading.getByText('completed').waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (globalThis as { stillTheSamePage?: boolean }).stillTheSamePage)).toBe(true);
    expect(await page.getByTestId('wave-rest').getByText('passed').count()).toBe(1);
    expect(await page.getByTestId('wave-counts').first().textContent()).toContain('3/3 applied');
    await screenshot(page, 'rollout-completed', true);
    await expectAccessible('rollout');
  });

  it('pauses and resumes a baking rollout from its page, with the bake clock shown', async () => {
    const { page } = browser;
    await hub.publish('web', '1.2.0', [app('hello, third')]);
    await page.goto(`${hub.url}/rollouts`);
    await page.getByLabel('Release').selectOption('web@1.2.0');
    await page.getByLabel(/Targets \(fleet query/).fill('fleet=browser');
    await page.getByLabel('Waves').fill('canary:34%,rest:100%');
    await page.getByLabel(/Bake time/).fill('1h');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await page.waitForURL(/\/rollouts\/ro_/, { timeout: UI_MS });
    await page.getByTestId('bake-left').waitFor({ timeout: 30_000 });
    await page.getByLabel('Reason (recorded in the audit trail)').fill('checking the canary');
    await page.getByRole('button', { name: 'Pause' }).click();
    await page
      .getByRole('heading', { name: /Rollout of web@1\.2\.0/ })
      .getByText('paused')
      .waitFor({ timeout: UI_MS });
    await screenshot(page, 'rollout-paused', true);
    await page.getByRole('button', { name: 'Resume' }).click();
    await page
      .getByRole('heading', { name: /Rollout of web@1\.2\.0/ })
      .getByText('running')
      .waitFor({ timeout: UI_MS });
    await page.getByRole('button', { name: 'Abort' }).click();
    await page.getByRole('button', { name: 'Yes, abort' }).click();
    await page
      .getByRole('heading', { name: /Rollout of web@1\.2\.0/ })
      .getByText('aborted')
      .waitFor({ timeout: UI_MS });
    await page.goto(`${hub.url}/rollouts`);
    await page.getByRole('table', { name: /Rollouts/ }).waitFor();
    await screenshot(page, 'rollouts');
    await expectAccessible('rollouts');
  });

  it('opens an incident and shows the drift it holds apart, as intentional', async () => {
    const { page } = browser;
    const edge = agents[0]!;
    await page.goto(`${hub.url}/drift`);
    await page.getByLabel('Incident id').fill('INC-42');
    await page.getByLabel('Targets (fleet query)').fill('name=web-1');
    await page.getByLabel('Reason').fill('debugging the greeting by hand');
    await page.getByRole('button', { name: 'Open incident' }).click();
    await page.getByText('INC-42').first().waitFor({ timeout: UI_MS });
    const held = await api<{ desired: { generation: number } }>(hub.url, 'GET', `/v1/targets/${edge.targetId}`, {
      token: hub.adminToken,
    });
    await waitFor(
      'the envelope with the hold to be applied on web-1',
      () => edge.agent.current.appliedGeneration >= held.body.desired.generation,
    );
    const file = join(edge.root, manifestFileName(app('x')));
    expect(existsSync(file)).toBe(true);
    writeFileSync(file, stringify({ ...app('x'), data: { greeting: 'patched by hand' } }));
    const heldTable = page.getByRole('table', { name: 'Drift held as intentional' });
    await heldTable.getByText('held: INC-42').waitFor({ timeout: 30_000 });
    expect(await heldTable.getByText('data.greeting').count()).toBe(1);
    await screenshot(page, 'drift', true);
    await expectAccessible('drift');
  });

  it('pages through the audit trail and shows the latest signed checkpoint and the verified chain', async () => {
    const { page } = browser;
    await api(hub.url, 'POST', '/v1/audit/checkpoints', { token: hub.adminToken });
    await page.goto(`${hub.url}/audit?limit=10`);
    await page.getByTestId('verify').getByText('verified').waitFor({ timeout: UI_MS });
    expect(await page.getByTestId('checkpoint').textContent()).toMatch(/^seq \d+ sha256:/);
    const firstSeq = Number(await page.locator('table.data tbody tr td').first().textContent());
    await page.getByRole('button', { name: 'Older' }).click();
    await page.waitForURL(/cursor=/);
    await expect
      .poll(async () => Number(await page.locator('table.data tbody tr td').first().textContent()), { timeout: UI_MS })
      .toBe(firstSeq - 10);
    await page.getByRole('button', { name: 'Newer' }).click();
    await expect
      .poll(async () => Number(await page.locator('table.data tbody tr td').first().textContent()), { timeout: UI_MS })
      .toBeGreaterThanOrEqual(firstSeq);
    await page.getByLabel('Action (exact, or a family such as rollout.*)').fill('rollout.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/action=rollout/);
    await expect
      .poll(
        async () =>
          (await page.locator('table.data tbody tr td:nth-child(4)').allTextContents()).every((a) =>
            a.startsWith('rollout.'),
          ),
        { timeout: UI_MS },
      )
      .toBe(true);
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: /Download export/ }).click();
    expect((await download).suggestedFilename()).toMatch(/^flotilla-audit-.*\.jsonl$/);
    await screenshot(page, 'audit');
    await expectAccessible('audit');
  });

  it('lays every page out without sideways scrolling from 1280 to 2560 px wide', async () => {
    const { page } = browser;
    const rollouts = await api<{ items: { id: string }[] }>(hub.url, 'GET', '/v1/rollouts', { token: hub.adminToken });
    const pages = [
      '/',
      '/targets',
      `/targets/${agents[0]!.targetId}`,
      '/rollouts',
      `/rollouts/${rollouts.body.items[0]!.id}`,
      '/drift',
      '/audit',
    ];
    try {
      for (const width of [1280, 2560]) {
        await page.setViewportSize({ width, height: 1000 });
        for (const path of pages) {
          await page.goto(`${hub.url}${path}`);
          await page.locator('main h1').waitFor();
          await page.locator('main .card, main .vtable').first().waitFor();
          const overflow = await page.evaluate(
            'document.documentElement.scrollWidth - document.documentElement.clientWidth',
          );
          expect(overflow, `${path} at ${width} px`).toBe(0);
        }
        if (width === 2560) await screenshot(page, 'overview-2560');
      }
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  it('keeps the dark theme readable', async () => {
    const { page } = browser;
    await page.goto(`${hub.url}/`);
    await page.getByTestId('overview-ready').waitFor();
    // The README's picture (docs/images/dashboard-overview.png) is this one, after the rollouts and the incident.
    await screenshot(page, 'overview-after');
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
    await page.getByTestId('overview-ready').waitFor();
    expect(await page.locator('html').getAttribute('data-theme')).toBe('dark');
    await screenshot(page, 'overview-dark');
    await expectAccessible('overview, dark');
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
  });

  it('shows a viewer no deploy actions, and the API refuses them anyway', async () => {
    const { page, context } = browser;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor({ timeout: UI_MS });
    await signIn(VIEWER_TOKEN);
    await page.goto(`${hub.url}/rollouts`);
    await page.getByRole('table', { name: /Rollouts/ }).waitFor({ timeout: UI_MS });
    expect(await page.getByRole('button', { name: 'Start rollout' }).count()).toBe(0);
    await page
      .getByRole('table', { name: /Rollouts/ })
      .getByRole('link')
      .first()
      .click();
    await page.getByRole('heading', { name: /Rollout of/ }).waitFor({ timeout: UI_MS });
    for (const name of ['Pause', 'Resume', 'Abort', 'Rollback'])
      expect(await page.getByRole('button', { name }).count()).toBe(0);
    await page.goto(`${hub.url}/drift`);
    await page.getByRole('heading', { name: 'Incidents', exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Open incident' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Revert/ }).count()).toBe(0);
    // The page's own session, used directly: the hub refuses what the page does not offer.
    const rolloutId = page.url();
    const refused = await page.evaluate(async () => {
      const me = (await (await fetch('/v1/session')).json()) as { csrfToken: string };
      const answer = await fetch('/v1/incidents', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-flotilla-csrf': me.csrfToken },
        body: JSON.stringify({ id: 'INC-VIEWER', selector: '', reason: 'no' }),
      });
      return { status: answer.status, body: (await answer.json()) as { error: { code: string } } };
    });
    expect(refused).toEqual({
      status: 403,
      body: expect.objectContaining({ error: expect.objectContaining({ code: 'FORBIDDEN' }) }),
    });
    const direct = await api(hub.url, 'POST', '/v1/rollouts', {
      token: VIEWER_TOKEN,
      body: { release: 'web@1.2.0', selector: '' },
    });
    expect(direct.status).toBe(403);
    expect(rolloutId).toContain('/drift');
    await screenshot(page, 'viewer-drift');
    expect((await context.cookies()).find((c) => c.name === 'flotilla_session')).toMatchObject({
      httpOnly: true,
      sameSite: 'Strict',
    });
  });
});
