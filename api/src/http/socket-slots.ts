// Socket slots: how nginx reaches the API replicas on one host without ever being reloaded.
//
// nginx's upstream lists a fixed set of Unix socket paths, `slot-0.sock` ... `slot-<K-1>.sock`,
// in a directory shared with the API containers (a tmpfs volume). Each slot is a symbolic link
// to the socket of one live API process (`members/<name>.sock`). A replica that is ready points
// its share of the slots at itself; a replica that stops first points its slots at the others,
// then stops listening, then waits for nginx to let go of its kept-alive connections. Every
// change is one rename(2) of a link, which nginx sees on its next connect(): the proxy's
// configuration never changes, so no nginx worker ever closes a client's connection during a
// deploy. Why, and the numbers: docs/stack.md, "How nginx follows the API replicas".
//
// A replica of a version that does not serve yet (a rolling deploy's new containers) stays out
// until shopctl admits it (after its health check passed), so a version that fails its checks
// never receives a request. A dead replica's slots are taken over by the others within a tick;
// until then nginx's connect() fails at once and it tries the next slot (nothing was sent, so
// this is safe for a POST too).
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface Member {
  name: string;
  /** Container (host) name: what shopctl admits. */
  host: string;
  version: string;
  admitted: boolean;
  leaving: boolean;
}

export interface SlotSnapshot {
  /** The live member each slot points at; null for a missing or dead link. */
  slots: Array<string | null>;
  /** Live members (their socket accepts connections), by name. */
  members: Map<string, Member>;
}

export interface SlotChange {
  slot: number;
  to: string;
}

const count = (slots: ReadonlyArray<string | null>, name: string) => slots.reduce((n, s) => (s === name ? n + 1 : n), 0);

/**
 * Pure: the links member `self` changes in one step. `serve`: claim dead slots and take a fair
 * share from the richest member, if this member may serve; `leave`: hand this member's slots
 * to the others that serve, fewest first.
 */
export function planSlots(snapshot: SlotSnapshot, self: string, mode: 'serve' | 'leave'): SlotChange[] {
  const slots = [...snapshot.slots];
  const owners = new Set(slots.filter((s): s is string => s !== null && snapshot.members.has(s)));
  const ownerVersions = new Set([...owners].map((o) => snapshot.members.get(o)?.version));
  // May serve: admitted by shopctl, or of a version that serves already (a restart, a scale-up),
  // or nothing serves at all (a first start, or every old replica died: better the new one than none).
  const eligible = (m: Member) => !m.leaving && (m.admitted || ownerVersions.has(m.version) || owners.size === 0);
  const changes: SlotChange[] = [];
  const set = (slot: number, to: string) => {
    slots[slot] = to;
    changes.push({ slot, to });
  };

  if (mode === 'leave') {
    const targets = [...snapshot.members.values()].filter((m) => m.name !== self && eligible(m)).map((m) => m.name);
    if (!targets.length) return [];
    slots.forEach((owner, i) => {
      if (owner !== self && owner !== null) return;
      const to = targets.reduce((a, b) => (count(slots, b) < count(slots, a) ? b : a));
      set(i, to);
    });
    return changes;
  }

  const me = snapshot.members.get(self);
  if (!me || !eligible(me)) return [];
  slots.forEach((owner, i) => {
    if (owner === null || !snapshot.members.has(owner) || snapshot.members.get(owner)?.leaving) set(i, self);
  });
  const serving = [...snapshot.members.values()].filter(eligible).map((m) => m.name);
  const fair = Math.floor(slots.length / Math.max(serving.length, 1));
  while (count(slots, self) < fair) {
    const richest = serving.filter((n) => n !== self).reduce<string | undefined>((a, b) => (a === undefined || count(slots, b) > count(slots, a) ? b : a), undefined);
    if (richest === undefined || count(slots, richest) <= fair) break;
    set(slots.lastIndexOf(richest), self);
  }
  return changes;
}

export interface SocketSlotsOptions {
  dir: string;
  slots: number;
  version: string;
  /** Defaults to the host name (the container id under Compose). */
  host?: string;
  /** Called when this member's socket file is gone (removed by mistake): listen on `socketPath` again. */
  relisten?: () => Promise<void>;
  /**
   * Called when another member took slots from this one. nginx keeps its idle connections per
   * slot path, and a connection made before the link moved still leads here: answer the next
   * request on each open connection with `Connection: close`, so nginx reconnects through the
   * link as it is now (and the new member gets its share at once, not when this one stops).
   */
  onSlotsLost?: () => void;
  log?: (level: 'info' | 'warn', fields: Record<string, unknown>, message: string) => void;
}

/**
 * Whether a Unix socket has a listener: `dead` only when the kernel says so (refused: its
 * process is gone; missing). A slow answer (a busy machine) is `unknown` and counts as alive:
 * taking a live replica for dead would remove its socket from under it.
 */
function probe(path: string, timeoutMs = 2000): Promise<'live' | 'dead' | 'unknown'> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const done = (state: 'live' | 'dead' | 'unknown') => {
      socket.destroy();
      resolve(state);
    };
    socket.setTimeout(timeoutMs, () => done('unknown'));
    socket.once('connect', () => done('live'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? 'dead' : 'unknown'));
  });
}

const isMissing = (e: unknown) => (e as { code?: string }).code === 'ENOENT';

/** The file side: the member registry, the links, and the loop that keeps this member's share. */
export class SocketSlots {
  readonly host: string;
  readonly name: string;
  readonly socketPath: string;
  private readonly members: string;
  private timer: NodeJS.Timeout | undefined;
  private busy = Promise.resolve();
  private leaving = false;
  private owned = 0;

  constructor(private readonly opts: SocketSlotsOptions) {
    this.host = opts.host ?? hostname();
    this.name = `${this.host}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '_');
    this.members = join(opts.dir, 'members');
    this.socketPath = join(this.members, `${this.name}.sock`);
  }

  static slotPath(dir: string, i: number): string {
    return join(dir, `slot-${i}.sock`);
  }

  static admittedPath(dir: string, host: string): string {
    return join(dir, 'admitted', host);
  }

  /** Makes the registry folders and removes a socket this member left behind (a restart). */
  async prepare(): Promise<void> {
    await fs.mkdir(this.members, { recursive: true });
    await fs.mkdir(join(this.opts.dir, 'admitted'), { recursive: true });
    await fs.rm(this.socketPath, { force: true });
    await fs.writeFile(join(this.members, `${this.name}.json`), JSON.stringify({ host: this.host, version: this.opts.version, pid: process.pid, started: new Date().toISOString() }));
  }

  /** Starts taking a share of the slots (now, then every `intervalMs`). */
  start(intervalMs = 1000): void {
    this.timer = setInterval(() => void this.step('serve'), intervalMs);
    this.timer.unref();
    void this.step('serve');
  }

  /** Hands this member's slots to the others, then unlinks its socket: nginx connects elsewhere from now on. */
  async leave(): Promise<number> {
    this.leaving = true;
    if (this.timer) clearInterval(this.timer);
    await this.busy;
    await fs.writeFile(join(this.members, `${this.name}.leaving`), '').catch(() => undefined);
    const moved = await this.run('leave');
    await Promise.all(['sock', 'json', 'leaving'].map((ext) => fs.rm(join(this.members, `${this.name}.${ext}`), { force: true })));
    return moved;
  }

  /** Reads the registry and the links; probes every member's socket (and removes dead ones' files). */
  async snapshot(): Promise<SlotSnapshot> {
    const members = new Map<string, Member>();
    let entries: string[] = [];
    try {
      entries = await fs.readdir(this.members);
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
    let admitted = new Set<string>();
    try {
      admitted = new Set(await fs.readdir(join(this.opts.dir, 'admitted')));
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
    await Promise.all(
      entries.filter((f) => f.endsWith('.sock')).map(async (file) => {
        const name = file.slice(0, -'.sock'.length);
        const path = join(this.members, file);
        const state = await probe(path);
        if (state !== 'dead') {
          const meta = await fs.readFile(join(this.members, `${name}.json`), 'utf8').then((s) => JSON.parse(s) as { host?: string; version?: string }).catch(() => ({}) as { host?: string; version?: string });
          const leaving = entries.includes(`${name}.leaving`) || (name === this.name && this.leaving);
          const host = meta.host ?? name;
          members.set(name, { name, host, version: meta.version ?? '', admitted: admitted.has(host), leaving });
          return;
        }
        // Refused or gone: its process is gone (killed). Give a socket that is being set up a moment first.
        const stat = await fs.stat(path).catch(() => undefined);
        if (stat && Date.now() - stat.mtimeMs > 10_000 && name !== this.name) {
          await Promise.all(['sock', 'json', 'leaving'].map((ext) => fs.rm(join(this.members, `${name}.${ext}`), { force: true })));
        }
      }),
    );
    const slots: Array<string | null> = [];
    for (let i = 0; i < this.opts.slots; i++) {
      const target = await fs.readlink(SocketSlots.slotPath(this.opts.dir, i)).catch(() => null);
      const name = target?.match(/^members\/(.+)\.sock$/)?.[1] ?? null;
      slots.push(name !== null && members.has(name) ? name : null);
    }
    return { slots, members };
  }

  private async step(mode: 'serve' | 'leave'): Promise<number> {
    if (mode === 'serve' && this.leaving) return 0;
    // Our own socket file must still be there: without it nothing can reach this replica.
    if (mode === 'serve' && this.opts.relisten && !(await fs.stat(this.socketPath).catch(() => undefined))) {
      this.opts.log?.('warn', { socket: this.socketPath }, 'socket slots: this replica\'s socket file was gone; listening again');
      await this.opts.relisten().catch((err: unknown) => this.opts.log?.('warn', { err }, 'socket slots: listening again failed'));
    }
    return this.run(mode);
  }

  private run(mode: 'serve' | 'leave'): Promise<number> {
    const next = this.busy.then(async () => {
      try {
        const snapshot = await this.snapshot();
        const before = snapshot.slots.filter((x) => x === this.name).length;
        if (before < this.owned) this.opts.onSlotsLost?.();
        const changes = planSlots(snapshot, this.name, mode);
        for (const c of changes) await this.point(c.slot, c.to);
        const after = [...snapshot.slots];
        for (const c of changes) after[c.slot] = c.to;
        this.owned = after.filter((x) => x === this.name).length;
        if (changes.length) this.opts.log?.('info', { slots: changes.map((c) => c.slot), to: [...new Set(changes.map((c) => c.to))], mode }, mode === 'leave' ? 'handed socket slots over' : 'took socket slots');
        return changes.length;
      } catch (err) {
        this.opts.log?.('warn', { err, mode }, 'socket slots: step failed');
        return 0;
      }
    });
    this.busy = next.then(() => undefined);
    return next;
  }

  /** One atomic rename: a connect() sees the old link or the new one, never none. */
  private async point(slot: number, to: string): Promise<void> {
    const path = SocketSlots.slotPath(this.opts.dir, slot);
    const tmp = `${path}.${this.name}.tmp`;
    await fs.rm(tmp, { force: true });
    await fs.symlink(`members/${to}.sock`, tmp);
    await fs.rename(tmp, path);
  }
}
