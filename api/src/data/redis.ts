import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';

export type { Redis };

export interface RedisOptions {
  /**
   * Let ioredis gather the commands of one event-loop turn into one write (default). Off for a
   * client whose callers already send one command per turn: autopipelining would hold each of them
   * for one more turn, and its per-pipeline bookkeeping costs more than the write it saves.
   */
  autoPipelining?: boolean;
}

/**
 * A Redis client that fails fast instead of queueing while disconnected, so every caller can fall
 * back to PostgreSQL at once; it keeps reconnecting in the background.
 */
export function createRedis(url: string, name: string, logger: Logger, opts: RedisOptions = {}): Redis {
  const client = new Redis(url, {
    connectionName: name,
    enableOfflineQueue: false,
    enableAutoPipelining: opts.autoPipelining ?? true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    reconnectOnError: () => false,
  });
  let wasReady = false;
  let lastErrorLog = 0;
  client.on('ready', () => {
    logger.info({ redis: name }, wasReady ? 'redis reconnected' : 'redis connected');
    wasReady = true;
  });
  client.on('error', (err: Error) => {
    // A down Redis emits an error per reconnect attempt: log at most one every 10 s.
    const now = Date.now();
    if (now - lastErrorLog > 10_000) {
      lastErrorLog = now;
      logger.warn({ redis: name, err: { message: err.message } }, 'redis unavailable; serving without it');
    }
  });
  return client;
}

/** Resolves when the client is ready or after `ms`, whichever comes first (startup never blocks on Redis). */
export function waitReady(client: Redis, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}

export function isReady(client: Redis): boolean {
  return client.status === 'ready';
}

export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
