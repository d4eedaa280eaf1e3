// A process that stops the way adapters/main.ts does, with the real stop guard and a short limit, for
// test/production.test.ts. argv[2]: 'clean' (the stop completes and nothing is left open), 'hang' (the
// drain never settles and holds nothing open) or 'linger' (the stop completes, a handle stays open).
import { listenForStop } from '../../adapters/stop-signals.ts';
import { createLogger } from '../../src/log/logger.ts';

const mode = process.argv[2] ?? 'clean';
const limitMs = Number(process.argv[3] ?? '500');
const log = createLogger({ destination: process.stdout });
const stopSignals = listenForStop({ log });
// Stands for the listening server, which keeps the process alive until the stop closes it.
const server = setInterval(() => undefined, 60_000);
log.info({ mode }, 'ready');
log.info({ signal: await stopSignals.first }, 'shutting down');
clearInterval(server);
const stopping = stopSignals.bound({ limitMs });
if (mode === 'hang') await new Promise<never>(() => undefined);
if (mode === 'linger') setInterval(() => undefined, 60_000);
log.info('stopped');
stopping.completed();
