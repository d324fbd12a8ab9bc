// Its own module so that what imports the node:crypto backend (the hub, the agent) does not
// load and run tweetnacl as well: the agent's bundle would otherwise keep it in every start.
import nacl from 'tweetnacl';
import type { Ed25519Backend } from './ed25519.ts';

/** Ed25519 in pure JavaScript, for places without node:crypto such as the browser. */
export const tweetnaclBackend: Ed25519Backend = {
  name: 'tweetnacl',
  generate() {
    const seed = nacl.randomBytes(32);
    return { publicKey: nacl.sign.keyPair.fromSeed(seed).publicKey, seed };
  },
  sign(seed, message) {
    return nacl.sign.detached(message, nacl.sign.keyPair.fromSeed(seed).secretKey);
  },
  verify(publicKey, message, signature) {
    return nacl.sign.detached.verify(message, signature, publicKey);
  },
};
