import { describe, expect, it } from 'vitest';
import { RUN_ENVIRONMENT, runConfig } from '../src/config.ts';

const base = { hub: 'https://hub.example.com', stateDir: '/var/lib/flotilla-agent' };

describe('flotilla-agent run configuration', () => {
  it('defaults the kubernetes driver to leader election on the flotilla-agent Lease and identity Secret', () => {
    expect(runConfig({ ...base, driver: 'kubernetes' }, {})).toMatchObject({
      driver: 'kubernetes',
      leaderElection: true,
      leaseName: 'flotilla-agent',
      leaseSeconds: 15,
      identitySecret: 'flotilla-agent-identity',
    });
  });

  it('reads every setting from its environment variable, treats empty ones as unset, and lets flags win', () => {
    const env = {
      FLOTILLA_HUB: 'https://hub.example.com',
      FLOTILLA_AGENT_STATE_DIR: '/state',
      FLOTILLA_AGENT_DRIVER: 'kubernetes',
      FLOTILLA_AGENT_NAMESPACE: 'agents',
      FLOTILLA_AGENT_POD_NAME: 'flotilla-agent-abcde',
      FLOTILLA_AGENT_NODE_NAME: 'node-7',
      FLOTILLA_AGENT_LEADER_ELECTION: 'false',
      FLOTILLA_AGENT_LEASE_SECONDS: '20',
      FLOTILLA_AGENT_HEALTH_PORT: '8080',
      FLOTILLA_AGENT_NAME: '',
      FLOTILLA_TRUST_ROOT_PIN: '',
    };
    const config = runConfig({}, env);
    expect(config).toMatchObject({
      namespace: 'agents',
      podName: 'flotilla-agent-abcde',
      nodeName: 'node-7',
      leaderElection: false,
      leaseSeconds: 20,
      healthPort: 8080,
    });
    expect(config.name).toBeUndefined();
    expect(config.trustRootPin).toBeUndefined();
    expect(runConfig({ leaderElection: true, namespace: 'other' }, env)).toMatchObject({
      leaderElection: true,
      namespace: 'other',
    });
    expect(Object.values(RUN_ENVIRONMENT).filter((v) => v.startsWith('FLOTILLA_'))).toHaveLength(
      Object.keys(RUN_ENVIRONMENT).length,
    );
  });

  it.each([
    [{ driver: 'manifests-dir' }, 'root'],
    [{ driver: 'kubernetes', context: 'prod' }, 'context'],
    [{ driver: 'manifests-dir', root: '/r', kubeconfig: '/k' }, 'kubeconfig'],
    [{ driver: 'kubernetes', namespace: 'Flotilla_System' }, 'namespace'],
    [{ driver: 'kubernetes', trustRootPin: 'not-a-key-id' }, 'trustRootPin'],
    [{ driver: 'kubernetes', leaseSeconds: '0' }, 'leaseSeconds'],
    [{ driver: 'kubernetes', leaderElection: 'perhaps' }, 'leaderElection'],
    [{ driver: 'helm' }, 'driver'],
  ])('refuses %j, naming %s', (flags, field) => {
    expect(() => runConfig({ ...base, ...flags }, {})).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining(field) }),
    );
  });

  it('reads several hub replicas from a comma-separated FLOTILLA_HUB, in order', () => {
    const config = runConfig(
      { stateDir: '/s', driver: 'kubernetes' },
      { FLOTILLA_HUB: 'https://hub-0.example.com, https://hub-1.example.com/' },
    );
    expect(config.hub).toEqual(['https://hub-0.example.com', 'https://hub-1.example.com']);
  });

  it('names the hub entry that is not an http(s) URL', () => {
    expect(() => runConfig({ ...base, hub: 'https://hub-0.example.com,hub-1:7070' }, {})).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining("each hub: 'hub-1:7070' must use http or https"),
      }),
    );
  });
});
