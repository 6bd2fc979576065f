import { createInterface } from 'node:readline/promises';

/** Asks on the terminal (prompt on stderr, so stdout stays clean); undefined when there is no TTY to ask. */
export async function ask(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}
