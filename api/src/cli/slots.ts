// `node api/dist/cli/slots.js admit [timeout-ms]`, run by shopctl inside a new api container once its
// health check passed: lets this container's replica take its share of nginx's socket slots and
// waits until it did. `node api/dist/cli/slots.js show`: the slot table. Both print JSON.
// (socket-slots.ts; docs/stack.md, "How nginx follows the API replicas".)
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { SocketSlots } from '../http/socket-slots.js';

const dir = process.env.API_SOCKET_DIR?.trim();
const slots = Number(process.env.API_SOCKET_SLOTS ?? 16);
const [command = 'show', timeoutArg = '20000'] = process.argv.slice(2);

function table(snapshot: Awaited<ReturnType<SocketSlots['snapshot']>>) {
  return {
    slots: snapshot.slots,
    members: [...snapshot.members.values()].map((m) => ({ ...m, slots: snapshot.slots.filter((s) => s === m.name).length })),
  };
}

async function main(): Promise<number> {
  if (!dir) {
    process.stderr.write('slots: API_SOCKET_DIR is not set: this replica does not use socket slots\n');
    return 2;
  }
  // A reader only: it never listens, so it never appears as a member.
  const reader = new SocketSlots({ dir, slots, version: '', host: `reader-${hostname()}` });
  if (command === 'show') {
    process.stdout.write(`${JSON.stringify(table(await reader.snapshot()))}\n`);
    return 0;
  }
  if (command !== 'admit') {
    process.stderr.write(`slots: unknown command "${command}" (admit [timeout-ms] | show)\n`);
    return 2;
  }
  const host = hostname();
  await fs.mkdir(`${dir}/admitted`, { recursive: true });
  await fs.writeFile(SocketSlots.admittedPath(dir, host), `${new Date().toISOString()}\n`);
  const deadline = Date.now() + Number(timeoutArg);
  for (;;) {
    const snapshot = await reader.snapshot();
    const mine = [...snapshot.members.values()].filter((m) => m.host === host);
    const owned = snapshot.slots.filter((s) => mine.some((m) => m.name === s)).length;
    if (owned > 0) {
      process.stdout.write(`${JSON.stringify({ host, owned, ...table(snapshot) })}\n`);
      return 0;
    }
    if (Date.now() > deadline) {
      process.stderr.write(`slots: ${host} owns no socket slot after ${timeoutArg} ms (${mine.length ? 'its replica runs but did not take any' : 'no replica of this container listens in ' + dir})\n`);
      process.stdout.write(`${JSON.stringify({ host, owned, ...table(snapshot) })}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

process.exitCode = await main();
