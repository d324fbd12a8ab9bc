export { createHub, type Hub, type HubDependencies, type HubServices } from './hub.ts';
export { openHub, type OpenHubOptions, type OpenedHub } from './open-hub.ts';
export { openDatabase } from './store/database.ts';
// What the demo (and any program that embeds a hub, with a release author and an operator
// beside it) uses.
export { loadManifests } from './cli/load-manifests.ts';
export { loadOrCreateKeyFile, readKeyFile, writeSecretFile } from './key-files.ts';
export { cliConfigPath } from './config.ts';
export { Context, readCliConfig, saveContext } from './cli/contexts.ts';
export { connectionCap, openFileLimit } from './fd-limit.ts';
