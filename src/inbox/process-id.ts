import { hostname } from 'node:os';

/**
 * This process as the inbox names it (`host:pid`) on the items it takes or holds, so a restart on the
 * same host can tell that the process that left them is gone and take them up at once.
 */
export const PROCESS_ID = `${hostname()}:${process.pid}`;
