// What the agent's bundle gets for zod's `locales` (scripts/bundle-agent.js): English, the
// one zod configures itself with and the only language the agent's errors are in, without the
// other forty-odd translations of its messages, a sixth of the bundle's source that V8 would
// keep in the agent's heap. A named export, so that a bundled use of another locale fails the
// build instead of being undefined at run time.
export { default as en } from 'zod/v4/locales/en.js';
