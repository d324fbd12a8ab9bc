// What the agent's bundle gets for undici's HTTP/2 client (scripts/bundle-agent.js). The agent
// never sets allowH2, so undici offers only http/1.1 in TLS's ALPN and no connection becomes
// HTTP/2; the real module loads node:http2 with undici, about 0.6 MB of the agent's memory.
module.exports = function connectH2() {
  throw new Error('flotilla-agent is bundled without HTTP/2; its connections use HTTP/1.1 (allowH2 unset)');
};
