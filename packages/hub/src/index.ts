export { createHub, type Hub, type HubDependencies, type HubServices } from './hub.ts';
export { openHub, type OpenHubOptions, type OpenedHub } from './open-hub.ts';
export { openDatabase } from './store/database.ts';
