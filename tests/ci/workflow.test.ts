// The GitHub Actions pipeline (.github/workflows/docker-deploy.yml): schema-valid, every
// command it runs exists here, actions pinned, least privilege, deploy only from main.
// Every check also runs on a deliberately broken copy, so none can pass by accident.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  checkDeploy,
  checkPermissions,
  checkPinning,
  checkRunCommands,
  checkSecrets,
  isObj,
  jobsOf,
  parseWorkflow,
  readRepo,
  splitCommands,
  stepsOf,
  type Obj,
  type Workflow,
} from './workflow-checks.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const workflowPath = join(root, '.github/workflows/docker-deploy.yml');
const raw = await readFile(workflowPath, 'utf8');
const wf = parseWorkflow(raw);
const repo = readRepo(root);

/** The workflow with one edit; fails loudly if the text to edit is gone, so no mutation is a no-op. */
function broken(from: string | RegExp, to: string): Workflow {
  const found = typeof from === 'string' ? raw.includes(from) : from.test(raw);
  if (!found) throw new Error(`mutation target not in the workflow: ${String(from)}`);
  return parseWorkflow(raw.replace(from, to));
}

function job(id: string, w: Workflow = wf): Obj {
  const found = jobsOf(w).find(([jobId]) => jobId === id);
  if (!found) throw new Error(`no job ${id}`);
  return found[1];
}

/** The real `action-validator` CLI on a file, run from the repository so globs resolve as on GitHub. */
async function validateFile(file: string): Promise<{ code: number; output: string }> {
  const bin = join(root, 'node_modules/.bin/action-validator');
  return run(bin, [file], { cwd: root }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
}

async function validate(text: string): Promise<{ code: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'workflow-'));
  try {
    const file = join(dir, 'docker-deploy.yml');
    await writeFile(file, text);
    return await validateFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('action-validator accepts the workflow (schema, job graph, expressions)', async (t) => {
  const result = await validateFile(workflowPath);
  t.is(result.code, 0, result.output);
});

test('action-validator rejects a broken copy, so the check above is real', async (t) => {
  const result = await validate(raw.replace('needs: [build-and-push, security-scan, e2e]', 'needs: [build-and-push, security-scan, e2e-typo]'));
  t.not(result.code, 0);
  t.regex(result.output, /e2e-typo/);
  const schema = await validate(raw.replace('timeout-minutes: 20', 'timeout-minuets: 20'));
  t.not(schema.code, 0);
});

test('it runs on pushes to main and develop and on pull requests', (t) => {
  const on = wf.doc['on'];
  t.true(isObj(on));
  if (!isObj(on)) return;
  const push = on['push'];
  t.true(isObj(push) && Array.isArray(push['branches']) && ['main', 'develop'].every((b) => (push['branches'] as string[]).includes(b)));
  t.true('pull_request' in on);
});

test('every run: step calls npm scripts, npx bins, shopctl commands and files that exist', (t) => {
  const report = checkRunCommands(wf, repo);
  t.deepEqual(report.problems, [], `shopctl commands from ${repo.shopctlCommands.source}`);
  t.log(`shopctl commands from ${repo.shopctlCommands.source}: ${[...repo.shopctlCommands.names].sort().join(', ')}`);
  // What the issue asks the pipeline to run is actually there to be checked.
  for (const script of ['build', 'typecheck', 'lint', 'test', 'test:e2e']) t.true(report.seen.npm.includes(script), `npm run ${script}`);
  for (const command of ['init', 'deploy', 'verify', 'rollback']) t.true(report.seen.shopctl.includes(command), `shopctl ${command}`);
});

test('a missing npm script, shopctl command, npx bin or repository file is reported', (t) => {
  const cases: [Workflow, RegExp][] = [
    [broken('run: npm run lint', 'run: npm run lint:all'), /no script "lint:all"/],
    [broken('npm test', 'npm tset'), /"npm tset" is neither/],
    [broken('run: npm run build', 'run: npm run build -w nowhere'), /no workspace nowhere/],
    [broken('run: node cli/dist/bin.js verify', 'run: node cli/dist/bin.js verifyy'), /shopctl has no command "verifyy"/],
    [broken('shopctl rollback --wait', 'shopctl rollbak --wait'), /shopctl has no command "rollbak"/],
    [broken('run: node cli/dist/bin.js verify', 'run: node cli/dist/nope.js verify'), /node script cli\/dist\/nope.js does not exist/],
    [broken('npx c8', 'npx c8-nope'), /npx c8-nope is not installed/],
    [broken('--ignorefile .github/trivyignore', '--ignorefile .github/nope'), /\.github\/nope does not exist/],
    [broken('file: ./Dockerfile', 'file: ./Dockerfile.missing'), /Dockerfile.missing does not exist/],
  ];
  for (const [mutant, expected] of cases) {
    const problems = checkRunCommands(mutant, repo).problems;
    t.true(problems.some((p) => expected.test(p)), `${expected}: ${JSON.stringify(problems)}`);
  }
});

test('the shell reader finds commands inside ssh strings, wrappers and substitutions, and skips heredocs', (t) => {
  const texts = (script: string): string[] => splitCommands(script).map((c) => c.map((x) => x.text).join(' '));
  t.deepEqual(texts('a && b || c; d | e'), ['a', 'b', 'c', 'd', 'e']);
  t.deepEqual(texts('x=$(npm run build) >/dev/null 2>&1'), ['x=', 'npm run build']);
  t.deepEqual(texts('cat > f <<EOF\nnpm run nope\nEOF\nnpm test'), ['cat', 'npm test']);
  t.deepEqual(texts('ssh host "cd $P && shopctl verify"'), ['ssh host cd $P && shopctl verify']);
  t.deepEqual(texts('echo "${#a[@]}" # npm run nope'), ['echo ${#a[@]}']);
  t.deepEqual(texts('if ! npm run lint; then exit 1; fi'), ['if ! npm run lint', 'then exit 1', 'fi']);
  const ssh = parseWorkflow(raw.replace('ssh production "cd $DEPLOY_PATH && shopctl verify"', 'ssh production "cd $DEPLOY_PATH && npm run nope"'));
  t.true(checkRunCommands(ssh, repo).problems.some((p) => p.includes('no script "nope"')));
  const wrapped = parseWorkflow(raw.replace(/(npx c8 [\s\S]*?)npm test/, '$1npm run nope'));
  t.true(checkRunCommands(wrapped, repo).problems.some((p) => p.includes('no script "nope"')));
});

test('every action is pinned to a full commit SHA with an exact version, every image by digest', (t) => {
  t.deepEqual(checkPinning(wf), []);
  const uses = jobsOf(wf).flatMap(([, j]) => stepsOf(j)).map((s) => s['uses']).filter((u) => typeof u === 'string');
  t.true(uses.length >= 8);
});

test('a tag, a missing version comment or an image without digest is reported', (t) => {
  const checkout = 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2';
  const cases: [Workflow, RegExp][] = [
    [broken(checkout, 'actions/checkout@v4'), /not pinned/],
    [broken(checkout, 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683'), /not pinned/],
    [broken(checkout, 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4'), /not pinned/],
    [broken(checkout, 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af68 # v4.2.2'), /not pinned/],
    [broken(checkout, 'actions/checkout@0000000000000000000000000000000000000000 # v4.2.2'), /two different commits/],
    [
      broken(
        '- uses: docker/setup-buildx-action@b5ca514318bd6ebac0fb2aedd5d36ec1b5c232a2 # v3.10.0\n        with:\n          driver-opts: image=${{ env.BUILDKIT_IMAGE }}',
        "- {uses: docker/setup-buildx-action@v3, with: {driver-opts: 'image=${{ env.BUILDKIT_IMAGE }}'}}",
      ),
      /uses: in the workflow but/,
    ],
    [broken(/aquasec\/trivy:0\.69\.3@sha256:[0-9a-f]{64}/, 'aquasec/trivy:0.69.3'), /not pinned by digest/],
    [broken('driver-opts: image=${{ env.BUILDKIT_IMAGE }}', 'driver-opts: network=host'), /BuildKit \(the default/],
    [broken(/moby\/buildkit:v0\.33\.1@sha256:[0-9a-f]{64}/, 'moby/buildkit:buildx-stable-1'), /not pinned by digest/],
    [broken('image: ${{ env.BINFMT_IMAGE }}', 'image: tonistiigi/binfmt:latest'), /setup-qemu-action runs tonistiigi\/binfmt:latest/],
  ];
  for (const [mutant, expected] of cases) {
    const problems = checkPinning(mutant);
    t.true(problems.some((p) => expected.test(p)), `${expected}: ${JSON.stringify(problems)}`);
  }
});

test('the token is read-only unless a job needs more, and then only what its policy allows', (t) => {
  t.deepEqual(checkPermissions(wf), []);
  t.deepEqual(job('build-and-push')['permissions'], { contents: 'read', packages: 'write' });
  t.is(job('deploy')['permissions'], undefined);
  const cases: [Workflow, RegExp][] = [
    [broken(/^permissions:\n {2}contents: read$/m, 'permissions: write-all'), /workflow permissions/],
    [broken(/^permissions:\n {2}contents: read$/m, 'permissions:\n  contents: write'), /workflow permissions/],
    [broken('e2e (Compose stack, shopctl verify, e2e suite)', 'e2e\n    permissions:\n      packages: write'), /e2e: permission packages: write/],
    [broken('security-events: write', 'security-events: write\n      id-token: write'), /permission id-token/],
  ];
  for (const [mutant, expected] of cases) {
    const problems = checkPermissions(mutant);
    t.true(problems.some((p) => expected.test(p)), `${expected}: ${JSON.stringify(problems)}`);
  }
});

test('deploy runs only on pushes to main, in production, one at a time, after everything else', (t) => {
  t.deepEqual(checkDeploy(wf), []);
  const cases: [Workflow, RegExp][] = [
    [broken("if: github.ref == 'refs/heads/main' && github.event_name == 'push'", "if: github.ref == 'refs/heads/main'"), /deploy: if must be/],
    [broken("if: github.ref == 'refs/heads/main' && github.event_name == 'push'", "if: github.event_name == 'push'"), /deploy: if must be/],
    [broken('      name: production\n', '      name: staging\n'), /production environment/],
    [broken('group: deploy-production\n      cancel-in-progress: false', 'group: deploy-production\n      cancel-in-progress: true'), /concurrency/],
    [broken('needs: [build-and-push, security-scan, e2e]', 'needs: [build-and-push, e2e]'), /does not wait for job security-scan/],
    [broken("if: failure() && steps.verify.outcome == 'failure'", 'if: always()'), /rollback step must run only when/],
    [broken('production needs a person now"\n          fi\n          exit 1', 'production needs a person now"\n          fi'), /must fail the job/],
    [broken('StrictHostKeyChecking yes', 'StrictHostKeyChecking no'), /StrictHostKeyChecking/],
    [broken('shopctl deploy production $SHA --wait', 'shopctl deploy production latest --wait'), /commit under test/],
    [broken('commits/main', 'commits/develop'), /still the head of main/],
    [broken("      - name: shopctl deploy production\n        if: steps.head.outputs.current == 'true'\n", '      - name: shopctl deploy production\n'), /must be skipped when main has moved on/],
    [broken('SHA: ${{ github.sha }}', 'SHA: ${{ github.event.before }}'), /commit under test/],
    [broken("(umask 077 && printf '%s\\n' \"$DEPLOY_SSH_KEY\" > ~/.ssh/deploy_key)", "printf '%s\\n' \"$DEPLOY_SSH_KEY\" > ~/.ssh/deploy_key"), /mode 0600/],
  ];
  for (const [mutant, expected] of cases) {
    const problems = checkDeploy(mutant);
    t.true(problems.some((p) => expected.test(p)), `${expected}: ${JSON.stringify(problems)}`);
  }
});

test('no secret or event field is pasted into a script, and nothing traces or prints secrets', (t) => {
  t.deepEqual(checkSecrets(wf), []);
  const cases: [Workflow, RegExp][] = [
    [broken('run: ssh production "cd $DEPLOY_PATH && shopctl verify"', 'run: ssh production "cd ${{ secrets.DEPLOY_PATH }} && shopctl verify"'), /secret or event field/],
    [broken('run: npm run lint', 'run: echo "${{ github.event.pull_request.title }}" && npm run lint'), /secret or event field/],
    [broken('          set +x\n', '          set -x\n'), /set -x/],
    [broken('          set +x\n', '          echo "$DEPLOY_SSH_KEY"\n'), /prints a secret/],
  ];
  for (const [mutant, expected] of cases) {
    const problems = checkSecrets(mutant);
    t.true(problems.some((p) => expected.test(p)), `${expected}: ${JSON.stringify(problems)}`);
  }
});

test('the test job runs Node 24 against PostgreSQL and Redis service containers and keeps coverage', (t) => {
  const testJob = job('test');
  const env = wf.doc['env'];
  t.true(isObj(env) && env['NODE_VERSION'] === '24');
  const services = testJob['services'];
  t.true(isObj(services));
  if (!isObj(services)) return;
  t.like(services, { postgres: { image: 'postgres:15-alpine' }, redis: { image: 'redis:7-alpine' } });
  t.like(testJob['env'], {
    TEST_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
    TEST_REDIS_URL: 'redis://127.0.0.1:6379',
  });
  const steps = stepsOf(testJob);
  const runs = steps.map((s) => (typeof s['run'] === 'string' ? s['run'] : '')).join('\n');
  t.regex(runs, /apt-get install[^\n]*redis-server/);
  t.regex(runs, /npm ci/);
  t.regex(runs, /npm run typecheck/);
  t.regex(runs, /npm run lint/);
  t.regex(runs, /npx c8 [\s\S]*--reporter=lcov[\s\S]*npm test/);
  const setupNode = steps.find((s) => String(s['uses']).startsWith('actions/setup-node@'));
  t.like(setupNode, { with: { 'node-version': '${{ env.NODE_VERSION }}' } });
  const coverage = steps.find((s) => String(s['uses']).startsWith('actions/upload-artifact@'));
  t.like(coverage, { with: { name: 'coverage' } });
  t.regex(String(coverage?.['with'] && (coverage['with'] as Obj)['path']), /coverage\/lcov\.info/);
});

test('scan and e2e test the image the build job made; only pushes publish it', (t) => {
  const build = job('build-and-push');
  const push = stepsOf(build).find((s) => s['id'] === 'push');
  t.like(push, { if: "github.event_name == 'push'", with: { push: true, sbom: true, 'provenance': 'mode=max' } });
  const artifact = (id: string): unknown => stepsOf(job(id)).find((s) => String(s['uses']).startsWith('actions/download-artifact@'))?.['with'];
  t.like(artifact('security-scan'), { name: 'api-image' });
  t.like(artifact('e2e'), { name: 'api-image' });
  const scan = stepsOf(job('security-scan')).map((s) => (typeof s['run'] === 'string' ? s['run'] : '')).join('\n');
  t.regex(scan, /npm audit --omit=dev --audit-level=high/);
  t.regex(scan, /--severity CRITICAL[^\n]*--exit-code 1/);
  t.regex(scan, /hadolint --config .github\/hadolint.yaml --failure-threshold warning/);
});

test('e2e runs the stack on the image loaded from the build job, verifies it and always removes it', (t) => {
  const e2e = job('e2e');
  const env = wf.doc['env'];
  const build = stepsOf(job('build-and-push')).find((s) => s['name'] === 'Build the linux/amd64 image');
  t.like(build, { with: { tags: '${{ env.LOCAL_IMAGE }}:${{ github.sha }}' } });
  t.true(isObj(env) && isObj(e2e['env']) && e2e['env']['API_IMAGE'] === env['LOCAL_IMAGE'], 'API_IMAGE is the image the build job tagged');
  t.like(e2e['env'], { APP_VERSION: '${{ github.sha }}' });
  const steps = stepsOf(e2e);
  const at = (pattern: RegExp): number => steps.findIndex((s) => typeof s['run'] === 'string' && pattern.test(s['run']));
  const load = at(/docker load/);
  const deploy = at(/bin\.js deploy development "\$APP_VERSION" --local/);
  t.true(load >= 0 && deploy > load, 'the loaded image is deployed with --local (never rebuilt)');
  t.true(at(/bin\.js init/) < deploy);
  t.true(at(/bin\.js verify/) > deploy);
  const down = at(/compose down --volumes/);
  t.like(steps[down], { if: 'always()' });
  t.true(at(/npm run test:e2e/) > down, 'the suite runs after the verified stack is gone');
});

test('the fault suite has a workflow of its own: on pushes to main, nightly and by hand, never holding back a deploy', async (t) => {
  const path = join(root, '.github/workflows/faults.yml');
  const result = await validateFile(path);
  t.is(result.code, 0, result.output);
  const faults = parseWorkflow(await readFile(path, 'utf8'));
  const on = faults.doc['on'];
  t.true(isObj(on) && 'schedule' in on && 'workflow_dispatch' in on);
  // main only (it needs sudo on the runner): not on pull requests or other branches.
  t.true(isObj(on) && isObj(on['push']) && JSON.stringify(on['push']) === JSON.stringify({ branches: ['main'] }));
  t.false(isObj(on) && 'pull_request' in on);
  // A workflow of its own: the deploy workflow neither runs it nor waits for it.
  t.notRegex(await readFile(join(root, '.github/workflows/docker-deploy.yml'), 'utf8'), /test:faults|workflow_run/);
  t.deepEqual(checkPinning(faults), []);
  t.deepEqual(checkPermissions(faults), []);
  t.deepEqual(checkRunCommands(faults, repo).problems, []);
});
