import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type CryptoKey } from 'jose';
import type { KeyPair } from '@flotilla/protocol';
import type { Enrollment } from './agent-state.ts';
import type { HubClient } from './hub-client.ts';

/**
 * The agent's short-lived access token. It is obtained with a fresh assertion signed by the
 * agent's own key and renewed once two thirds of its life have passed, so a request never
 * carries a token about to expire.
 */
export class Credentials {
  private token: { value: string; renewAt: number } | undefined;
  private key: CryptoKey | undefined;
  private readonly client: HubClient;
  private keyPair: KeyPair;
  private readonly enrollment: Enrollment;
  private readonly clock: () => number;

  constructor(client: HubClient, keyPair: KeyPair, enrollment: Enrollment, clock: () => number = Date.now) {
    this.client = client;
    this.keyPair = keyPair;
    this.enrollment = enrollment;
    this.clock = clock;
  }

  async accessToken(): Promise<string> {
    const now = this.clock();
    if (this.token !== undefined && now < this.token.renewAt) return this.token.value;
    const answer = await this.client.token(await this.assertion(now));
    const expiresAt = Date.parse(answer.expiresAt);
    this.token = { value: answer.accessToken, renewAt: now + ((expiresAt - now) * 2) / 3 };
    return answer.accessToken;
  }

  /** Signs assertions with `keyPair` from now on, and forgets the token the old key got. */
  rekey(keyPair: KeyPair): void {
    this.keyPair = keyPair;
    this.key = undefined;
    this.token = undefined;
  }

  /** Forgets the token, for example after the hub refused it. */
  invalidate(): void {
    this.token = undefined;
  }

  private async assertion(now: number): Promise<string> {
    const key: CryptoKey =
      this.key ??
      (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: this.keyPair.publicKey, d: this.keyPair.seed }, 'EdDSA'));
    this.key = key;
    const seconds = Math.floor(now / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(this.enrollment.targetId)
      .setSubject(this.enrollment.targetId)
      .setAudience(this.enrollment.audience)
      .setIssuedAt(seconds)
      .setExpirationTime(seconds + 60)
      .setJti(randomUUID())
      .sign(key);
  }
}
