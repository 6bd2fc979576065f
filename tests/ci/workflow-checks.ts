// Static checks of a GitHub Actions workflow against this repository. Each check returns
// the problems it found (empty = passes), so a test can run it on the real workflow and on
// a broken copy alike. Nothing here imports api/ or cli/: the repository is read as files.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Obj = { [key: string]: Json };

export interface Workflow {
  raw: string;
  doc: Obj;
}

export function parseWorkflow(raw: string): Workflow {
  const doc = parse(raw) as Json;
  if (!isObj(doc)) throw new Error('the workflow is not a YAML mapping');
  return { raw, doc };
}

export function isObj(value: Json | undefined): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function jobsOf(wf: Workflow): [string, Obj][] {
  const jobs = wf.doc['jobs'];
  if (!isObj(jobs)) return [];
  return Object.entries(jobs).filter((entry): entry is [string, Obj] => isObj(entry[1]));
}

export function stepsOf(job: Obj): Obj[] {
  const steps = job['steps'];
  return Array.isArray(steps) ? steps.filter(isObj) : [];
}

function stepLabel(jobId: string, step: Obj, index: number): string {
  const name = step['name'] ?? step['uses'] ?? (typeof step['run'] === 'string' ? step['run'].split('\n')[0] : undefined);
  return `${jobId} step ${index + 1} (${String(name)})`;
}

// ---------------------------------------------------------------------------------------
// Repository facts, read at test time so the checks follow the code as it changes.

export interface Repo {
  root: string;
  /** Scripts of the root package.json. */
  scripts: Set<string>;
  /** Scripts of each workspace, by workspace name and by folder. */
  workspaceScripts: Map<string, Set<string>>;
  /** Executables npx can run without downloading: node_modules/.bin and workspace bins. */
  bins: Set<string>;
  /** The shopctl bin file relative to the root (cli/bin/shopctl.js). */
  shopctlBin: string;
  /** Files `node <file>` runs shopctl from: the bin (a launcher) and the compiled entry it imports (cli/dist/bin.js). */
  shopctlEntries: string[];
  /** shopctl's command names; `source` says where they were read. */
  shopctlCommands: { names: Set<string>; source: string };
  exists(path: string): boolean;
}

function readJson(path: string): Obj {
  const value = JSON.parse(readFileSync(path, 'utf8')) as Json;
  if (!isObj(value)) throw new Error(`${path} is not a JSON object`);
  return value;
}

function scriptsOf(pkg: Obj): Set<string> {
  const scripts = pkg['scripts'];
  return new Set(isObj(scripts) ? Object.keys(scripts) : []);
}

/** The commands the CLI is specified to have; used only until cli/src declares its own. */
export const PLANNED_SHOPCTL_COMMANDS = ['init', 'deploy', 'rollback', 'releases', 'backup', 'restore', 'health', 'status', 'verify', 'migrate'];

/** The commands `shopctl` declares: commander `.command('name')` calls, else the files of cli/src/commands. */
export function readShopctlCommands(root: string): { names: Set<string>; source: string } {
  const names = new Set<string>();
  const src = join(root, 'cli/src');
  const files: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith('.ts')) files.push(path);
    }
  };
  walk(src);
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\.command\(\s*['"`]([a-z][a-z0-9-]*)/g)) {
      names.add(match[1]!);
    }
  }
  if (names.size > 0) return { names, source: 'commander .command() calls in cli/src' };
  const commandsDir = join(src, 'commands');
  if (existsSync(commandsDir)) {
    for (const entry of readdirSync(commandsDir)) {
      const name = entry.replace(/\.ts$/, '');
      if (entry.endsWith('.ts') && /^[a-z][a-z0-9-]*$/.test(name) && name !== 'index') names.add(name);
    }
  }
  if (names.size > 0) return { names, source: 'file names in cli/src/commands' };
  return { names: new Set(PLANNED_SHOPCTL_COMMANDS), source: 'the planned command list (cli/src declares no command yet)' };
}

export function readRepo(root: string): Repo {
  const rootPkg = readJson(join(root, 'package.json'));
  const workspaceScripts = new Map<string, Set<string>>();
  const bins = new Set<string>();
  const binDir = join(root, 'node_modules/.bin');
  if (existsSync(binDir)) for (const entry of readdirSync(binDir)) bins.add(entry);
  let shopctlBin = 'cli/dist/bin.js';
  const shopctlEntries = new Set(['cli/dist/bin.js']);
  const workspaces = rootPkg['workspaces'];
  for (const folder of Array.isArray(workspaces) ? workspaces : []) {
    if (typeof folder !== 'string') continue;
    const pkg = readJson(join(root, folder, 'package.json'));
    const scripts = scriptsOf(pkg);
    workspaceScripts.set(folder, scripts);
    if (typeof pkg['name'] === 'string') workspaceScripts.set(pkg['name'], scripts);
    const bin = pkg['bin'];
    if (isObj(bin)) {
      for (const [name, path] of Object.entries(bin)) {
        bins.add(name);
        if (name === 'shopctl' && typeof path === 'string') {
          shopctlBin = join(folder, path).replace(/\\/g, '/');
          shopctlEntries.add(shopctlBin).add(join(folder, 'dist/bin.js').replace(/\\/g, '/'));
        }
      }
    }
  }
  return {
    root,
    scripts: scriptsOf(rootPkg),
    workspaceScripts,
    bins,
    shopctlBin,
    shopctlEntries: [...shopctlEntries],
    shopctlCommands: readShopctlCommands(root),
    exists: (path) => existsSync(join(root, path)),
  };
}

// ---------------------------------------------------------------------------------------
// A small shell reader: enough of bash to find the commands a `run:` script calls.

export interface Token {
  text: string;
  /** Some of the text came from quotes (so it may be a whole script, e.g. an ssh command). */
  quoted: boolean;
}

/** Placeholder for `${{ ... }}` expressions: their value is only known on the runner. */
const EXPR = '\u0000expr\u0000';

export function isDynamic(text: string): boolean {
  return text.includes('$') || text.includes(EXPR) || text.includes('*');
}

function stripHeredocs(script: string): string {
  const lines = script.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const marker = /<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/.exec(line);
    out.push(marker ? line.replace(marker[0], '') : line);
    if (!marker) continue;
    const end = marker[3]!;
    while (i + 1 < lines.length && (marker[1] ? lines[i + 1]!.trim() : lines[i + 1]) !== end) i++;
    i++;
  }
  return out.join('\n');
}

/** Split a script into simple commands (token lists) at newlines, ; | & ( ) ` { } and $( <(. */
export function splitCommands(script: string): Token[][] {
  const src = stripHeredocs(script.replace(/\$\{\{[\s\S]*?\}\}/g, EXPR).replace(/\\\r?\n/g, ' '));
  const commands: Token[][] = [];
  let command: Token[] = [];
  let text = '';
  let quoted = false;
  let inToken = false;
  let redirect = false;
  const endToken = (): void => {
    if (inToken && !redirect) command.push({ text, quoted });
    if (inToken) redirect = false;
    text = '';
    quoted = false;
    inToken = false;
  };
  const endCommand = (): void => {
    endToken();
    redirect = false;
    if (command.length > 0) commands.push(command);
    command = [];
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === "'") {
      const close = src.indexOf("'", i + 1);
      if (close < 0) throw new Error(`unterminated ' in: ${script}`);
      text += src.slice(i + 1, close);
      quoted = inToken = true;
      i = close;
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < src.length) j++;
        text += src[j];
        j++;
      }
      if (j >= src.length) throw new Error(`unterminated " in: ${script}`);
      quoted = inToken = true;
      i = j;
    } else if (c === '\\' && i + 1 < src.length) {
      text += src[++i];
      inToken = true;
    } else if (c === '$' && src[i + 1] === '{') {
      const close = src.indexOf('}', i);
      text += src.slice(i, close < 0 ? src.length : close + 1);
      inToken = true;
      i = close < 0 ? src.length : close;
    } else if (c === '#' && !inToken) {
      const eol = src.indexOf('\n', i);
      i = eol < 0 ? src.length : eol - 1;
    } else if (c === '>' || (c === '<' && src[i + 1] !== '(')) {
      // A redirection: its target is a file the script writes or reads, not an argument.
      if (/^\d*$/.test(text)) {
        text = '';
        inToken = false;
      } else endToken();
      while (src[i + 1] === '>' || src[i + 1] === '&' || src[i + 1] === '|') i++;
      while (/\d|-/.test(src[i + 1] ?? '')) i++;
      redirect = true;
    } else if ('\n;|&()`{}'.includes(c) || (c === '<' && src[i + 1] === '(')) {
      if (c === '(' && text.endsWith('$')) text = text.slice(0, -1);
      if (c === '<') i++;
      endCommand();
    } else if (/\s/.test(c)) {
      endToken();
    } else {
      text += c;
      inToken = true;
    }
  }
  endCommand();
  return commands;
}

// ---------------------------------------------------------------------------------------
// run: steps -> npm scripts, npx bins, shopctl commands, repository files.

const NPM_BUILTINS = new Set([
  'ci', 'install', 'i', 'audit', 'exec', 'x', 'ls', 'pack', 'version', 'view', 'config', 'cache',
  'rebuild', 'prune', 'dedupe', 'outdated', 'explain', 'why', 'sbom', 'query', 'pkg', 'doctor',
]);
const NPM_SCRIPT_ALIASES: Record<string, string> = { test: 'test', t: 'test', tst: 'test', start: 'start', stop: 'stop', restart: 'restart' };
const NPM_VALUE_FLAGS = new Set(['-w', '--workspace', '--prefix', '-C', '--omit', '--include', '--audit-level', '--loglevel']);
/** npx bins that run another command given after their own options. */
const WRAPPERS = new Set(['c8', 'nyc', 'cross-env']);
const HEADS = new Set(['npm', 'npx', 'node', 'shopctl']);
/** Words before the command proper: assignments are skipped separately. */
const PREFIXES = new Set(['sudo', 'exec', 'time', 'command', 'nohup', 'env', 'if', 'then', 'else', 'elif', 'while', 'until', 'do', '!']);
const COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

interface Sink {
  problems: string[];
  where: string;
  repo: Repo;
  /** Facts gathered for the tests' own assertions (which commands were seen). */
  seen: { npm: string[]; shopctl: string[]; files: string[] };
}

function checkFile(path: string, sink: Sink, what: string): void {
  if (isDynamic(path) || path.startsWith('/') || path.startsWith('~')) return;
  const clean = path.replace(/^\.\//, '').replace(/\/$/, '');
  sink.seen.files.push(clean);
  // Compiled output is checked through its source: the workflow builds it first.
  const source = clean.replace(/(^|\/)dist\//, '$1src/').replace(/\.js$/, '.ts');
  if (!sink.repo.exists(clean) && !sink.repo.exists(source)) {
    sink.problems.push(`${sink.where}: ${what} ${path} does not exist in the repository`);
  }
}

function checkShopctl(command: Token | undefined, sink: Sink): void {
  const name = command?.text;
  if (name === undefined || name.startsWith('-')) {
    sink.problems.push(`${sink.where}: shopctl without a command`);
    return;
  }
  sink.seen.shopctl.push(name);
  if (isDynamic(name)) sink.problems.push(`${sink.where}: shopctl command ${name} is computed, so it cannot be checked`);
  else if (!sink.repo.shopctlCommands.names.has(name)) {
    sink.problems.push(`${sink.where}: shopctl has no command "${name}" (${sink.repo.shopctlCommands.source}: ${[...sink.repo.shopctlCommands.names].sort().join(', ') || 'none'})`);
  }
}

function checkNpm(args: Token[], sink: Sink): void {
  const workspaces: string[] = [];
  let allWorkspaces = false;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!.text;
    if (arg === '--') break;
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    if (flag === '-ws' || flag === '--workspaces') allWorkspaces = true;
    else if (flag.startsWith('-')) {
      const value = inline ?? (NPM_VALUE_FLAGS.has(flag) ? args[++i]?.text : undefined);
      if ((flag === '-w' || flag === '--workspace') && value !== undefined) workspaces.push(value);
    } else positional.push(arg);
  }
  const [sub, scriptArg] = positional;
  if (sub === undefined) {
    sink.problems.push(`${sink.where}: npm without a command`);
    return;
  }
  let script: string | undefined;
  if (['run', 'run-script', 'rum', 'urn'].includes(sub)) script = scriptArg;
  else if (sub in NPM_SCRIPT_ALIASES) script = NPM_SCRIPT_ALIASES[sub];
  else if (NPM_BUILTINS.has(sub)) return;
  else {
    sink.problems.push(`${sink.where}: "npm ${sub}" is neither an npm command nor a script shortcut (did you mean "npm run ${sub}"?)`);
    return;
  }
  if (script === undefined) {
    sink.problems.push(`${sink.where}: npm ${sub} without a script name`);
    return;
  }
  sink.seen.npm.push(script);
  if (isDynamic(script)) {
    sink.problems.push(`${sink.where}: npm script ${script} is computed, so it cannot be checked`);
    return;
  }
  const targets = allWorkspaces ? [...new Set(sink.repo.workspaceScripts.values())] : workspaces.map((w) => sink.repo.workspaceScripts.get(w));
  if (targets.length === 0) {
    if (!sink.repo.scripts.has(script)) sink.problems.push(`${sink.where}: the root package.json has no script "${script}"`);
    return;
  }
  targets.forEach((scripts, index) => {
    if (scripts === undefined) sink.problems.push(`${sink.where}: no workspace ${workspaces[index]}`);
    else if (!scripts.has(script)) sink.problems.push(`${sink.where}: workspace ${allWorkspaces ? '(one of -ws)' : workspaces[index]} has no script "${script}"`);
  });
}

function analyseCommand(tokens: Token[], sink: Sink, depth = 0): void {
  let i = 0;
  while (i < tokens.length && !tokens[i]!.quoted && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(tokens[i]!.text) || PREFIXES.has(tokens[i]!.text))) i++;
  const head = tokens[i]?.text;
  const args = tokens.slice(i + 1);
  for (const token of tokens) {
    if (/^(\.{1,2}\/|\.github\/|\.ci\/)/.test(token.text)) checkFile(token.text, sink, 'path');
  }
  if (head === undefined) return;
  if (head.startsWith('./')) checkFile(head, sink, 'script');
  switch (head) {
    case 'npm':
      checkNpm(args, sink);
      break;
    case 'shopctl':
      checkShopctl(args[0], sink);
      break;
    case 'npx': {
      let j = 0;
      while (j < args.length && args[j]!.text.startsWith('-')) j++;
      const bin = args[j]?.text;
      if (bin === undefined) {
        sink.problems.push(`${sink.where}: npx without a command`);
        break;
      }
      if (!sink.repo.bins.has(bin)) sink.problems.push(`${sink.where}: npx ${bin} is not installed (no node_modules/.bin/${bin}, no workspace bin): npx would download it`);
      if (bin === 'shopctl') checkShopctl(args[j + 1], sink);
      else if (WRAPPERS.has(bin)) {
        const inner = args.slice(j + 1).findIndex((t) => HEADS.has(t.text));
        if (inner >= 0) analyseCommand(args.slice(j + 1 + inner), sink, depth);
      }
      break;
    }
    case 'node': {
      const file = args.find((t) => !t.text.startsWith('-'));
      if (args.some((t) => ['-e', '--eval', '-p', '--print'].includes(t.text)) || file === undefined) break;
      checkFile(file.text, sink, 'node script');
      if (sink.repo.shopctlEntries.includes(file.text.replace(/^\.\//, ''))) checkShopctl(args[args.indexOf(file) + 1], sink);
      break;
    }
    case 'bash':
    case 'sh':
    case 'source':
    case '.': {
      const c = args.findIndex((t) => t.text === '-c');
      if (c >= 0 && args[c + 1]) analyseScript(args[c + 1]!.text, sink, depth + 1);
      else if (args[0] && !args[0].text.startsWith('-')) checkFile(args[0].text, sink, 'shell script');
      break;
    }
    case 'ssh':
      // The remote command is a script of its own: check what it runs on the server too.
      for (const arg of args) if (arg.quoted && /\s/.test(arg.text)) analyseScript(arg.text, sink, depth + 1);
      break;
    case 'docker':
    case 'docker-compose': {
      const composeArgs = head === 'docker' ? (args[0]?.text === 'compose' ? args.slice(1) : undefined) : args;
      if (composeArgs === undefined) break;
      const files: string[] = [];
      composeArgs.forEach((t, k) => {
        if (t.text === '-f' || t.text === '--file') files.push(composeArgs[k + 1]?.text ?? '');
        else if (t.text.startsWith('--file=')) files.push(t.text.slice('--file='.length));
      });
      for (const file of files) checkFile(file, sink, 'compose file');
      if (files.length === 0 && !COMPOSE_FILES.some((f) => sink.repo.exists(f))) {
        sink.problems.push(`${sink.where}: docker compose without -f needs one of ${COMPOSE_FILES.join(', ')} at the root`);
      }
      break;
    }
  }
}

function analyseScript(script: string, sink: Sink, depth: number): void {
  if (depth > 3) return;
  for (const command of splitCommands(script)) analyseCommand(command, sink, depth);
}

export interface RunReport {
  problems: string[];
  seen: Sink['seen'];
}

/** Every run: step's npm scripts, npx bins, shopctl commands and repository files exist. */
export function checkRunCommands(wf: Workflow, repo: Repo): RunReport {
  const problems: string[] = [];
  const seen: Sink['seen'] = { npm: [], shopctl: [], files: [] };
  for (const [jobId, job] of jobsOf(wf)) {
    stepsOf(job).forEach((step, index) => {
      const sink: Sink = { problems, where: stepLabel(jobId, step, index), repo, seen };
      if (typeof step['run'] === 'string') {
        try {
          analyseScript(step['run'], sink, 0);
        } catch (error) {
          problems.push(`${sink.where}: cannot read the script: ${(error as Error).message}`);
        }
      }
      // Files handed to actions: the Dockerfile and build context of docker/build-push-action.
      const uses = typeof step['uses'] === 'string' ? step['uses'] : '';
      const inputs = step['with'];
      if (uses.startsWith('docker/build-push-action@') && isObj(inputs)) {
        for (const key of ['file', 'context']) {
          const value = inputs[key];
          if (typeof value === 'string') checkFile(value, sink, `build-push-action ${key}`);
        }
      }
    });
  }
  return { problems, seen };
}

// ---------------------------------------------------------------------------------------
// Pinning: every action by a full commit SHA with an exact version comment.

const PINNED_USES = /^\s*(?:-\s+)?uses:\s*([A-Za-z0-9_.-]+\/[A-Za-z0-9_./-]+)@([0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$/;

export function checkPinning(wf: Workflow): string[] {
  const problems: string[] = [];
  const shaByRepo = new Map<string, string>();
  let pinnedLines = 0;
  wf.raw.split('\n').forEach((line, index) => {
    if (!/^\s*(?:-\s+)?uses:/.test(line)) return;
    const match = PINNED_USES.exec(line);
    if (/uses:\s*['"]?\.\//.test(line)) return; // a local action is versioned with the repository
    if (!match) {
      problems.push(`line ${index + 1}: "${line.trim()}" is not pinned as owner/repo@<40-hex commit> # vX.Y.Z`);
      return;
    }
    pinnedLines++;
    const repo = match[1]!.split('/').slice(0, 2).join('/');
    const previous = shaByRepo.get(repo);
    if (previous !== undefined && previous !== match[2]) problems.push(`line ${index + 1}: ${repo} is pinned to two different commits`);
    shaByRepo.set(repo, match[2]!);
  });
  // Every uses the parser sees must be one of the lines checked above (no flow-style escape).
  let parsedUses = 0;
  for (const [jobId, job] of jobsOf(wf)) {
    if (typeof job['uses'] === 'string') problems.push(`${jobId}: reusable workflows are not allowed here`);
    for (const step of stepsOf(job)) {
      const uses = step['uses'];
      if (typeof uses !== 'string') continue;
      if (uses.startsWith('./')) continue;
      parsedUses++;
      if (uses.startsWith('docker://') && !/@sha256:[0-9a-f]{64}$/.test(uses)) problems.push(`${jobId}: ${uses} is not pinned by digest`);
    }
  }
  if (parsedUses !== pinnedLines && problems.length === 0) {
    problems.push(`${parsedUses} uses: in the workflow but ${pinnedLines} pinned uses: lines`);
  }
  // Images the steps run with `docker run` are third-party code too: pinned by digest.
  const images: [string, string][] = [];
  const collect = (env: Json | undefined, where: string): void => {
    if (isObj(env)) for (const [key, value] of Object.entries(env)) if (key.endsWith('_IMAGE') && typeof value === 'string') images.push([where, value]);
  };
  collect(wf.doc['env'], 'env');
  for (const [jobId, job] of jobsOf(wf)) {
    collect(job['env'], `${jobId}.env`);
    for (const step of stepsOf(job)) collect(step['env'], `${jobId} step env`);
  }
  // The builder and QEMU installer images the docker actions run (privileged) otherwise default to moving tags.
  const envOf = (job: Obj): Obj => ({ ...(isObj(wf.doc['env']) ? wf.doc['env'] : {}), ...(isObj(job['env']) ? job['env'] : {}) });
  const resolve = (value: Json | undefined, job: Obj): string =>
    String(value ?? '').replace(/\$\{\{\s*env\.([A-Za-z0-9_]+)\s*\}\}/g, (_, name: string) => String(envOf(job)[name] ?? ''));
  for (const [jobId, job] of jobsOf(wf)) {
    for (const step of stepsOf(job)) {
      const uses = String(step['uses'] ?? '');
      const inputs = isObj(step['with']) ? step['with'] : {};
      if (uses.startsWith('docker/setup-buildx-action@')) {
        const image = /(?:^|[\s,])image=(\S+)/.exec(resolve(inputs['driver-opts'], job))?.[1] ?? '(the default moby/buildkit:buildx-stable-1)';
        if (!/@sha256:[0-9a-f]{64}$/.test(image)) problems.push(`${jobId}: setup-buildx-action runs BuildKit ${image}, not pinned by digest (driver-opts: image=...)`);
      }
      if (uses.startsWith('docker/setup-qemu-action@')) {
        const image = resolve(inputs['image'], job) || '(the default tonistiigi/binfmt:latest)';
        if (!/@sha256:[0-9a-f]{64}$/.test(image)) problems.push(`${jobId}: setup-qemu-action runs ${image}, not pinned by digest (with: image)`);
      }
    }
  }
  for (const [where, image] of images) {
    // A locally built image (no registry, no slash) is not pulled from anywhere.
    if (!image.includes('/') && !image.includes(':')) continue;
    if (!/@sha256:[0-9a-f]{64}$/.test(image)) problems.push(`${where}: image ${image} is not pinned by digest`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Permissions: read-only at the top, each job widens only what its policy allows.

export const PERMISSION_POLICY: Record<string, Record<string, string>> = {
  'build-and-push': { contents: 'read', packages: 'write' },
  'security-scan': { contents: 'read', 'security-events': 'write', actions: 'read' },
};

export function checkPermissions(wf: Workflow): string[] {
  const problems: string[] = [];
  const top = wf.doc['permissions'];
  if (!isObj(top) || Object.keys(top).length !== 1 || top['contents'] !== 'read') {
    problems.push(`workflow permissions must be exactly { contents: read }, found ${JSON.stringify(top ?? 'the default (write) token')}`);
  }
  for (const [jobId, job] of jobsOf(wf)) {
    const permissions = job['permissions'];
    if (permissions === undefined) continue;
    if (!isObj(permissions)) {
      problems.push(`${jobId}: permissions must be a mapping, found ${JSON.stringify(permissions)}`);
      continue;
    }
    const allowed = PERMISSION_POLICY[jobId] ?? { contents: 'read' };
    for (const [scope, level] of Object.entries(permissions)) {
      if (level === 'none') continue;
      if (level === 'read' && (allowed[scope] === 'read' || allowed[scope] === 'write')) continue;
      if (level !== allowed[scope]) problems.push(`${jobId}: permission ${scope}: ${String(level)} is not in its policy ${JSON.stringify(allowed)}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Deploy: only main pushes, through the protected production environment, never overlapping;
// verify after deploy, roll back when verify fails, and the job stays failed.

function needsOf(job: Obj): string[] {
  const needs = job['needs'];
  if (typeof needs === 'string') return [needs];
  return Array.isArray(needs) ? needs.filter((n): n is string => typeof n === 'string') : [];
}

function environmentOf(job: Obj): string | undefined {
  const env = job['environment'];
  if (typeof env === 'string') return env;
  return isObj(env) && typeof env['name'] === 'string' ? env['name'] : undefined;
}

function runText(step: Obj): string {
  return typeof step['run'] === 'string' ? step['run'] : '';
}

export function checkDeploy(wf: Workflow): string[] {
  const problems: string[] = [];
  const jobs = new Map(jobsOf(wf));
  const deploy = jobs.get('deploy');
  if (!deploy) return ['there is no deploy job'];
  const condition = String(deploy['if'] ?? '').replace(/^\$\{\{\s*|\s*\}\}$/g, '').replace(/\s+/g, ' ').trim();
  if (condition !== "github.ref == 'refs/heads/main' && github.event_name == 'push'") {
    problems.push(`deploy: if must be exactly "github.ref == 'refs/heads/main' && github.event_name == 'push'", found "${condition}"`);
  }
  if (environmentOf(deploy) !== 'production') problems.push('deploy: must run in the production environment');
  const concurrency = deploy['concurrency'];
  if (!isObj(concurrency) || typeof concurrency['group'] !== 'string' || concurrency['group'].includes('${{') || concurrency['cancel-in-progress'] !== false) {
    problems.push('deploy: needs a fixed concurrency group with cancel-in-progress: false');
  }
  // Everything must have passed first: every other job is an ancestor of deploy.
  const ancestors = new Set<string>();
  const visit = (id: string): void => {
    for (const need of needsOf(jobs.get(id) ?? {})) {
      if (ancestors.has(need)) continue;
      ancestors.add(need);
      visit(need);
    }
  };
  visit('deploy');
  for (const id of jobs.keys()) if (id !== 'deploy' && !ancestors.has(id)) problems.push(`deploy: does not wait for job ${id}`);
  for (const [id, job] of jobs) {
    if (id === 'deploy') continue;
    if (environmentOf(job) === 'production') problems.push(`${id}: only the deploy job may use the production environment`);
    if (stepsOf(job).some((s) => /\bshopctl\s+(deploy|rollback)\b/.test(runText(s)))) problems.push(`${id}: only the deploy job may deploy or roll back`);
  }
  const steps = stepsOf(deploy);
  const deployAt = steps.findIndex((s) => /^\s*(?:\S+=\S*\s+)*ssh\b[^\n]*\bshopctl\s+deploy\s+production\s+\S+/m.test(runText(s)));
  const verifyAt = steps.findIndex((s) => /\bshopctl\s+verify\b/.test(runText(s)));
  const rollbackAt = steps.findIndex((s) => /\bshopctl\s+rollback\b/.test(runText(s)));
  if (deployAt < 0) problems.push('deploy: no step runs shopctl deploy production <sha>');
  else {
    // The version deployed is the commit this run tested: $SHA bound to github.sha, or github.sha itself.
    const target = /^\s*(?:\S+=\S*\s+)*ssh\b[^\n]*\bshopctl\s+deploy\s+production\s+("?\$\{?SHA\}?"?|\$\{\{\s*github\.sha\s*\}\})(?=[\s"';]|$)/m.exec(runText(steps[deployAt]!));
    const jobEnv = deploy['env'];
    const stepEnv = steps[deployAt]!['env'];
    const sha = (isObj(stepEnv) && stepEnv['SHA']) || (isObj(jobEnv) && jobEnv['SHA']);
    if (!target || (target[1]!.includes('SHA') && String(sha).replace(/\s/g, '') !== '${{github.sha}}')) {
      problems.push('deploy: shopctl deploy production must deploy the commit under test (github.sha)');
    }
  }
  if (verifyAt < 0 || verifyAt < deployAt) problems.push('deploy: shopctl verify must run after shopctl deploy');
  if (rollbackAt < 0 || rollbackAt < verifyAt) problems.push('deploy: shopctl rollback must run after shopctl verify');
  else {
    const verifyId = steps[verifyAt]?.['id'];
    const condition = String(steps[rollbackAt]!['if'] ?? '').replace(/\s+/g, ' ');
    if (typeof verifyId !== 'string' || !condition.includes('failure()') || !condition.includes(`steps.${verifyId}.outcome == 'failure'`)) {
      problems.push("deploy: the rollback step must run only when the verify step failed (if: failure() && steps.<verify id>.outcome == 'failure')");
    }
    if (!/\bexit 1\b/.test(runText(steps[rollbackAt]!))) problems.push('deploy: the rollback step must fail the job (exit 1)');
    if (steps[rollbackAt]!['continue-on-error'] === true || steps[verifyAt]?.['continue-on-error'] === true) problems.push('deploy: verify and rollback must not continue on error');
  }
  // A slower run of an older commit must not deploy over a newer one.
  const headAt = steps.findIndex((s) => /commits\/main\b/.test(runText(s)) && /\$SHA\b/.test(runText(s)));
  const headId = steps[headAt]?.['id'];
  if (headAt < 0 || deployAt < headAt || typeof headId !== 'string') problems.push('deploy: a step before the deploy must check that the commit is still the head of main');
  else {
    for (const at of [deployAt, verifyAt]) {
      const condition = String(steps[at]?.['if'] ?? '');
      if (at >= 0 && !condition.includes(`steps.${headId}.outputs.current == 'true'`)) problems.push(`deploy: step ${at + 1} must be skipped when main has moved on (steps.${headId}.outputs.current)`);
    }
  }
  const all = steps.map(runText).join('\n');
  if (/StrictHostKeyChecking[\s=]+(no|off|accept-new)\b/i.test(all)) problems.push('deploy: StrictHostKeyChecking must stay on');
  if (!/StrictHostKeyChecking[\s=]+yes\b/.test(all)) problems.push('deploy: ssh must set StrictHostKeyChecking yes');
  if (!/UserKnownHostsFile/.test(all) || !/DEPLOY_KNOWN_HOSTS/.test(all)) problems.push('deploy: the known_hosts file must come from the DEPLOY_KNOWN_HOSTS secret');
  if (!/umask 077[^\n]*deploy_key/.test(all) && !/chmod 0?600[^\n]*deploy_key/.test(all)) problems.push('deploy: the SSH key must be written with mode 0600');
  return problems;
}

// ---------------------------------------------------------------------------------------
// Secrets and untrusted input never reach a script's text, and no script traces itself.

const UNTRUSTED = /\$\{\{[^}]*\b(secrets\.|github\.event\.|github\.head_ref|inputs\.)/;

export function checkSecrets(wf: Workflow): string[] {
  const problems: string[] = [];
  for (const [jobId, job] of jobsOf(wf)) {
    stepsOf(job).forEach((step, index) => {
      const run = runText(step);
      if (UNTRUSTED.test(run)) problems.push(`${stepLabel(jobId, step, index)}: passes a secret or event field into the script text; use env: instead`);
      if (/^\s*set\s+-[a-z]*x/m.test(run) || /\bbash\s+-[a-z]*x/.test(run)) problems.push(`${stepLabel(jobId, step, index)}: set -x would print secrets`);
      if (/\b(echo|printf)\b[^\n|>]*\$\{?DEPLOY_(SSH_KEY|KNOWN_HOSTS)\b(?![^\n]*>)/.test(run)) problems.push(`${stepLabel(jobId, step, index)}: prints a secret`);
    });
  }
  return problems;
}
