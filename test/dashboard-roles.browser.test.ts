import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '@flotilla/protocol';
import { manifestFileName } from '@flotilla/agent';
import { readKeyFile } from '../packages/hub/src/key-files.ts';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { accessibilityProblems, launchBrowser, screenshot, type BrowserFixture } from './fixtures/browser.ts';
import { flotilla } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

const UI_MS = 15_000;
type Role = 'viewer' | 'deployer' | 'approver' | 'admin';

let hub: HubFixture;
let browser: BrowserFixture;
const work = tempDir('flotilla-dashboard-roles-');
const agents = new Map<string, AgentFixture>();
const tokens = new Map<string, string>();
let rolloutId = '';
const payments: Resource = configMap('payments', { version: '1' }, 'pay');

const admin = (method: string, path: string, body?: unknown) =>
  api(hub.url, method, path, { token: hub.adminToken, ...(body === undefined ? {} : { body }) });

/** The real CLI, as the person holding `token` runs it on their own machine. */
const cli = (token: string, args: readonly string[]) =>
  flotilla(['--hub', hub.url, ...args], { FLOTILLA_TOKEN: token, HOME: work.path });

let signInChecked = false;

async function signInAs(token: string): Promise<void> {
  const { page, context } = browser;
  await context.clearCookies();
  await page.goto(`${hub.url}/`);
  await page.getByLabel('API token').waitFor({ timeout: UI_MS });
  if (!signInChecked) {
    signInChecked = true;
    expect(await accessibilityProblems(page), 'axe on sign-in').toEqual([]);
    await screenshot(page, 'sign-in');
  }
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor({ timeout: UI_MS });
}

async function openRollout(): Promise<void> {
  const { page } = browser;
  await page.goto(`${hub.url}/rollouts/${rolloutId}`);
  await page.getByRole('heading', { name: 'Approvals' }).waitFor({ timeout: UI_MS });
}

async function signApprovalFile(who: string, file: string, rollout = rolloutId): Promise<void> {
  const answer = await cli(tokens.get(who)!, [
    'rollout',
    'approve',
    rollout,
    '--key',
    join(work.path, `${who}.key`),
    '--as',
    who,
    '--out',
    file,
  ]);
  expect(answer.stderr).toBe('');
  expect(answer.code).toBe(0);
}

beforeAll(async () => {
  hub = await startHub();
  const enroll = await hub.enrollmentToken(2, { fleet: 'roles' });
  for (const [name, properties] of [
    ['acme-1', { tenant: 'acme', region: 'eu-west-1' }],
    ['free-1', { region: 'us-east-1' }],
  ] as const) {
    const agent = await startAgent(hub.url, enroll, { name, observeIntervalMs: 200 });
    agents.set(name, agent);
    await admin('PATCH', `/v1/targets/${agent.targetId}/properties`, { set: properties });
  }
  await hub.publish('payments', '1.0.0', [payments]);
  expect(
    (
      await admin('POST', '/v1/policies', {
        document: {
          apiVersion: 'flotilla.io/v1',
          kind: 'Policy',
          metadata: { name: 'acme-dual' },
          spec: { scope: 'tenant=acme', approvals: { required: 2, approvers: ['*@acme.example'] } },
        },
      })
    ).status,
  ).toBe(201);
  for (const [name, role, scope] of [
    ['vera@acme.example', 'viewer', undefined],
    ['carol@acme.example', 'deployer', undefined],
    ['alice@acme.example', 'approver', undefined],
    ['bob@acme.example', 'approver', undefined],
    ['eu-viewer', 'viewer', 'region=eu-*'],
  ] as const) {
    const created = await admin('POST', '/v1/tokens', { name, role, ...(scope === undefined ? {} : { scope }) });
    expect(created.status).toBe(201);
    tokens.set(name, created.body.token);
  }
  for (const who of ['alice@acme.example', 'bob@acme.example']) {
    const key = join(work.path, `${who}.key`);
    expect((await cli(tokens.get(who)!, ['keys', 'create', '--out', key])).code).toBe(0);
    const registered = await admin('POST', '/v1/trust-root/approver-keys', {
      publicKey: readKeyFile(key).publicKey,
      identity: who,
    });
    expect(registered.status).toBe(200);
  }
  const created = await api(hub.url, 'POST', '/v1/rollouts', {
    token: tokens.get('carol@acme.example')!,
    body: { release: 'payments@1.0.0', selector: 'fleet=roles' },
  });
  expect(created.status).toBe(201);
  rolloutId = created.body.rollout.id;
  await waitFor('free-1 to apply payments', () =>
    existsSync(join(agents.get('free-1')!.root, manifestFileName(payments))),
  );
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([...agents.values()].map((a) => a.agent.stop()));
  await hub?.dispose();
  work.remove();
});

describe('approving a rollout from the dashboard', () => {
  it('shows an approver the policy that holds the rollout, who may not approve, and the command to sign with', async () => {
    const { page } = browser;
    await signInAs(tokens.get('alice@acme.example')!);
    await openRollout();
    const requirement = page.getByTestId('requirement-acme-dual@1');
    await requirement.waitFor({ timeout: UI_MS });
    expect(await requirement.getByTestId('still-needed').textContent()).toBe('2');
    expect(await requirement.textContent()).toContain('never carol@acme.example (the author)');
    expect(await page.getByTestId('approve-command').textContent()).toBe(
      `flotilla rollout approve ${rolloutId} --key approver-key.json --as alice@acme.example`,
    );
    expect(await page.getByTestId('wave-holds').first().textContent()).toContain('1 awaiting approval');
    for (const name of ['Pause', 'Resume', 'Abort', 'Rollback'])
      expect(await page.getByRole('button', { name }).count()).toBe(0);
    await screenshot(page, 'rollout-approval', true);
    expect(await accessibilityProblems(page), 'axe on the approval view').toEqual([]);
  });

  it('refuses an uploaded approval whose signed content was altered, and records nothing', async () => {
    const { page } = browser;
    const file = join(work.path, 'altered.json');
    await signApprovalFile('alice@acme.example', file);
    const signed = JSON.parse(readFileSync(file, 'utf8'));
    signed.approval.approvedAt = '2020-01-01T00:00:00.000Z';
    writeFileSync(file, JSON.stringify(signed));
    await page.getByLabel('Signed approval file').setInputFiles(file);
    await page.getByRole('alert').filter({ hasText: 'APPROVAL_INVALID' }).waitFor({ timeout: UI_MS });
    expect((await admin('GET', `/v1/rollouts/${rolloutId}/approvals`)).body.items).toEqual([]);
  });

  it('records an approval file the CLI signed, uploaded from the page, and counts it', async () => {
    const { page } = browser;
    const file = join(work.path, 'alice-approval.json');
    await signApprovalFile('alice@acme.example', file);
    await page.getByLabel('Signed approval file').setInputFiles(file);
    await page.getByRole('status').filter({ hasText: 'alice-approval.json recorded.' }).waitFor({ timeout: UI_MS });
    await expect
      .poll(() => page.getByTestId('requirement-acme-dual@1').getByTestId('still-needed').textContent(), {
        timeout: UI_MS,
      })
      .toBe('1');
    const row = page.getByTestId('approval-row');
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toContain('alice@acme.example');
    expect(await row.locator('time').count()).toBe(2);
  });

  it('sees the second approval arrive live, and the held target go through', async () => {
    const { page } = browser;
    const sent = await cli(tokens.get('bob@acme.example')!, [
      'rollout',
      'approve',
      rolloutId,
      '--key',
      join(work.path, 'bob@acme.example.key'),
      '--as',
      'bob@acme.example',
    ]);
    expect(sent.code).toBe(0);
    await page.getByTestId('approvals-met').waitFor({ timeout: UI_MS });
    expect(await page.getByTestId('approval-row').count()).toBe(2);
    await waitFor('acme-1 to apply payments', () =>
      existsSync(join(agents.get('acme-1')!.root, manifestFileName(payments))),
    );
  });
});

describe('what each role sees and may do', () => {
  const offered = async (): Promise<Record<string, boolean>> => {
    const { page } = browser;
    const seen: Record<string, boolean> = {};
    await page.goto(`${hub.url}/rollouts`);
    await page.getByRole('table', { name: /Rollouts/ }).waitFor({ timeout: UI_MS });
    seen['start rollout'] = (await page.getByRole('button', { name: 'Start rollout' }).count()) > 0;
    await page.goto(`${hub.url}/rollouts/${held}`);
    await page.getByRole('heading', { name: /Rollout of/ }).waitFor({ timeout: UI_MS });
    await page.getByRole('heading', { name: 'Approvals' }).waitFor({ timeout: UI_MS });
    seen['pause'] = (await page.getByRole('button', { name: 'Pause' }).count()) > 0;
    seen['abort'] = (await page.getByRole('button', { name: 'Abort' }).count()) > 0;
    seen['rollback'] = (await page.getByRole('button', { name: 'Rollback' }).count()) > 0;
    seen['approve'] = (await page.getByLabel('Signed approval file').count()) > 0;
    await page.goto(`${hub.url}/drift`);
    await page.getByRole('heading', { name: 'Incidents', exact: true }).waitFor({ timeout: UI_MS });
    seen['open incident'] = (await page.getByRole('button', { name: 'Open incident' }).count()) > 0;
    await page.goto(`${hub.url}/audit`);
    await page.getByTestId('verify').waitFor({ timeout: UI_MS });
    seen['export audit'] = (await page.getByRole('link', { name: /Download export/ }).count()) > 0;
    return seen;
  };
  let held = '';

  beforeAll(async () => {
    // One rollout of a release at a time per target: the first must be done.
    await waitFor('the first rollout to complete', async () => {
      return (await admin('GET', `/v1/rollouts/${rolloutId}?members=none`)).body.state === 'completed';
    });
    // A window that opens in two hours (UTC), so free-1 waits for it.
    const opens = (new Date().getUTCHours() + 2) % 24;
    const hh = (h: number) => String(h).padStart(2, '0');
    const window = await admin('POST', '/v1/policies', {
      document: {
        apiVersion: 'flotilla.io/v1',
        kind: 'Policy',
        metadata: { name: 'us-hours' },
        spec: {
          scope: 'region=us-*',
          windows: { timezone: 'UTC', allow: [`daily ${hh(opens)}:00-${hh((opens + 1) % 24)}:00`] },
        },
      },
    });
    expect(window.status).toBe(201);
    await hub.publish('payments', '1.1.0', [configMap('payments', { version: '2' }, 'pay')]);
    const created = await api(hub.url, 'POST', '/v1/rollouts', {
      token: tokens.get('carol@acme.example')!,
      body: { release: 'payments@1.1.0', selector: 'fleet=roles' },
    });
    expect(created.status).toBe(201);
    held = created.body.rollout.id;
  });

  it.each<[Role, string, Record<string, boolean>]>([
    [
      'viewer',
      'vera@acme.example',
      {
        'start rollout': false,
        pause: false,
        abort: false,
        rollback: false,
        approve: false,
        'open incident': false,
        'export audit': false,
      },
    ],
    [
      'deployer',
      'carol@acme.example',
      {
        'start rollout': true,
        pause: true,
        abort: true,
        rollback: true,
        approve: false,
        'open incident': true,
        'export audit': false,
      },
    ],
    [
      'approver',
      'alice@acme.example',
      {
        'start rollout': false,
        pause: false,
        abort: false,
        rollback: false,
        approve: true,
        'open incident': false,
        'export audit': false,
      },
    ],
    [
      'admin',
      '',
      {
        'start rollout': true,
        pause: true,
        abort: true,
        rollback: true,
        approve: true,
        'open incident': true,
        'export audit': true,
      },
    ],
  ])('offers the %s role exactly the actions the API allows it', async (role, name, expected) => {
    await signInAs(name === '' ? hub.adminToken : tokens.get(name)!);
    expect(await offered()).toEqual(expected);
    await screenshot(browser.page, `role-${role}-audit`);
  });

  it('shows a wave held by a closed window, with the opening in the viewer’s time zone and the absolute time on hover', async () => {
    const { page } = browser;
    await signInAs(tokens.get('vera@acme.example')!);
    await page.goto(`${hub.url}/rollouts/${held}`);
    const holds = page.getByTestId('wave-holds');
    await holds.filter({ hasText: '1 window closed' }).waitFor({ timeout: UI_MS });
    expect(await holds.textContent()).toContain('1 awaiting approval');
    const opening = holds.locator('time');
    const at = (await opening.getAttribute('datetime'))!;
    expect(Date.parse(at) - Date.now()).toBeGreaterThan(60 * 60_000);
    expect(Date.parse(at) % 3_600_000).toBe(0);
    // The browser runs in Europe/Berlin: the hover names that zone's time.
    expect(await opening.getAttribute('title')).toMatch(/GMT\+[12]|CES?T/);
    const member = page.getByRole('row').filter({ hasText: 'free-1' });
    expect(await member.textContent()).toContain('window closed, opens');
    expect(await member.locator('time').getAttribute('datetime')).toBe(at);
  });

  it('resumes the live stream after the connection drops, with what it missed and without a reload', async () => {
    const { page, context } = browser;
    const streams: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/v1/events'))
        void request.allHeaders().then((headers) => streams.push(`${request.url()} ${headers['last-event-id'] ?? ''}`));
    });
    await page.evaluate(() => Object.assign(globalThis, { stillTheSamePage: true }));
    await page
      .getByRole('status')
      .filter({ hasText: /^live$/ })
      .waitFor({ timeout: UI_MS });
    // The hub drops every connection and the browser cannot come back until it is online again.
    await context.setOffline(true);
    try {
      hub.hub.server.closeAllConnections();
      await page
        .getByRole('status')
        .filter({ hasText: /connecting|offline/ })
        .waitFor({ timeout: UI_MS });
      const approval = join(work.path, 'while-offline.json');
      await signApprovalFile('bob@acme.example', approval, held);
      const recorded = await api(hub.url, 'POST', `/v1/rollouts/${held}/approvals`, {
        token: tokens.get('bob@acme.example')!,
        body: { approval: JSON.parse(readFileSync(approval, 'utf8')) },
      });
      expect(recorded.status).toBe(201);
    } finally {
      await context.setOffline(false);
    }
    await page
      .getByRole('status')
      .filter({ hasText: /^live$/ })
      .waitFor({ timeout: UI_MS });
    await page.getByTestId('approval-row').filter({ hasText: 'bob@acme.example' }).waitFor({ timeout: UI_MS });
    expect(await page.evaluate(() => (globalThis as { stillTheSamePage?: boolean }).stillTheSamePage)).toBe(true);
    // The stream came back where it left off: the reconnection names the last event seen.
    expect(streams.at(-1)).toMatch(/(lastEventId=|\s)[0-9a-z]+-\d+$/);
  });

  it.each<[Role, string, string, string, unknown]>([
    ['viewer', 'vera@acme.example', 'POST', 'pause', {}],
    ['viewer', 'vera@acme.example', 'POST', 'approvals', { approval: {} }],
    ['approver', 'alice@acme.example', 'POST', 'pause', {}],
    ['approver', 'alice@acme.example', 'POST', 'rollback', {}],
    ['deployer', 'carol@acme.example', 'POST', 'approvals', { approval: {} }],
  ])('refuses a %s (%s) calling %s …/%s directly', async (_role, name, method, verb, body) => {
    const answer = await api(hub.url, method, `/v1/rollouts/${held}/${verb}`, { token: tokens.get(name)!, body });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('FORBIDDEN');
  });

  it('refuses the approver’s own page session a pause the page does not offer', async () => {
    const { page } = browser;
    await signInAs(tokens.get('alice@acme.example')!);
    const status = await page.evaluate(async (id) => {
      const me = (await (await fetch('/v1/session')).json()) as { csrfToken: string };
      const answer = await fetch(`/v1/rollouts/${id}/pause`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-flotilla-csrf': me.csrfToken },
        body: '{}',
      });
      return answer.status;
    }, held);
    expect(status).toBe(403);
  });
});

/** What the focus check reads of the page's globals. */
interface FocusGlobals {
  document: {
    activeElement: {
      textContent: string | null;
      getBoundingClientRect(): { width: number; height: number; bottom: number };
    } | null;
  };
  getComputedStyle(element: unknown): { outlineStyle: string; outlineWidth: string };
}

describe('incidents and the keyboard', () => {
  it('closes an incident from the drift page, and the trail records who closed it', async () => {
    const { page } = browser;
    const opened = await api(hub.url, 'POST', '/v1/incidents', {
      token: tokens.get('carol@acme.example')!,
      body: { id: 'INC-7', selector: 'name=free-1', reason: 'looking at free-1 by hand' },
    });
    expect(opened.status).toBe(201);
    await signInAs(tokens.get('carol@acme.example')!);
    await page.goto(`${hub.url}/drift`);
    await page.getByRole('button', { name: 'Close incident INC-7' }).click();
    await page.getByRole('button', { name: 'Close incident INC-7' }).waitFor({ state: 'detached', timeout: UI_MS });
    const incident = await admin('GET', '/v1/incidents/INC-7');
    expect(incident.body.state).toBe('closed');
    const trail = await admin('GET', '/v1/audit?action=incident.close&limit=1');
    expect(trail.body.entries[0]).toMatchObject({ actor: { id: 'carol@acme.example' }, outcome: 'success' });
  });

  it('shows where the keyboard focus is: the skip link first, then an outline on each control', async () => {
    const { page } = browser;
    await page.goto(`${hub.url}/rollouts/${rolloutId}`);
    await page.getByRole('heading', { name: /Rollout of/ }).waitFor({ timeout: UI_MS });
    await page.keyboard.press('Tab');
    const focused = () =>
      page.evaluate(() => {
        // The page's globals, typed by hand: the tests compile without the DOM library.
        const window = globalThis as unknown as FocusGlobals;
        const element = window.document.activeElement!;
        const style = window.getComputedStyle(element);
        const box = element.getBoundingClientRect();
        return {
          text: element.textContent?.trim(),
          outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
          visible: box.width > 0 && box.height > 0 && box.bottom > 0,
        };
      });
    expect(await focused()).toEqual({ text: 'Skip to content', outline: true, visible: true });
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      expect(await focused(), `focus stop ${i + 2}`).toMatchObject({ outline: true, visible: true });
    }
  });
});

describe('a token limited to a scope', () => {
  it('sees only its targets in the overview, the table and the counts', async () => {
    const { page } = browser;
    await signInAs(tokens.get('eu-viewer')!);
    await page.getByTestId('overview-ready').waitFor({ timeout: UI_MS });
    expect(await page.getByTestId('session-scope').textContent()).toContain('region=eu-*');
    expect(await page.locator('.total-number').first().textContent()).toBe('1');
    await page.goto(`${hub.url}/targets`);
    await expect.poll(() => page.getByTestId('target-total').textContent(), { timeout: UI_MS }).toBe('1 target');
    await page.locator('.viewport [role=row] a', { hasText: 'acme-1' }).waitFor({ timeout: UI_MS });
    expect(await page.locator('.viewport [role=row] a', { hasText: 'free-1' }).count()).toBe(0);
    await screenshot(page, 'scoped-targets');
    expect(await accessibilityProblems(page), 'axe on the scoped table').toEqual([]);
  });
});
