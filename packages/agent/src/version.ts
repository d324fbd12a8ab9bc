/** The agent's version, reported in its facts and sent in its User-Agent. */
export const AGENT_VERSION = '0.1.0';
