export interface Probe {
  /** Resolves when the dependency answers, rejects otherwise. */
  (): Promise<unknown>;
}

export interface CheckResult {
  status: 'up' | 'down';
  latency_ms: number;
  error?: string;
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  checks: { database: CheckResult; redis: CheckResult };
  version: string;
  uptime_s: number;
}

const PROBE_TIMEOUT_MS = 1500;

async function check(probe: Probe): Promise<CheckResult> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      }),
    ]);
    return { status: 'up', latency_ms: Math.round((performance.now() - start) * 100) / 100 };
  } catch (err) {
    return { status: 'down', latency_ms: Math.round((performance.now() - start) * 100) / 100, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export class HealthService {
  private readonly startedAt = performance.now();
  private shuttingDown = false;

  constructor(
    private readonly probes: { database: Probe; redis: Probe },
    private readonly version: string,
  ) {}

  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  async report(): Promise<HealthReport> {
    const [database, redis] = await Promise.all([check(this.probes.database), check(this.probes.redis)]);
    const status = database.status === 'down' ? 'down' : redis.status === 'down' ? 'degraded' : 'ok';
    return {
      status,
      checks: { database, redis },
      version: this.version,
      uptime_s: Math.round((performance.now() - this.startedAt) / 1000),
    };
  }

  async ready(): Promise<{ ok: true } | { ok: false; reason: string }> {
    if (this.shuttingDown) return { ok: false, reason: 'shutting down' };
    const db = await check(this.probes.database);
    return db.status === 'up' ? { ok: true } : { ok: false, reason: 'database unavailable' };
  }
}
