/** One named check of `shopctl verify`. `exempt` is a documented exception, never a silent pass. */
export interface CheckResult {
  id: string;
  group: string;
  status: 'pass' | 'fail' | 'exempt' | 'skip';
  detail: string;
  durationMs: number;
}

/** XML 1.0 cannot carry control characters other than tab, newline and return, even escaped. */
function printable(text: string): string {
  return [...text].filter((c) => c >= ' ' || c === '\t' || c === '\n' || c === '\r').join('');
}

function xml(text: string): string {
  return printable(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** JUnit XML as GitHub Actions, GitLab and Jenkins read it: one testsuite per group. */
export function renderJunit(results: readonly CheckResult[], suiteName = 'shopctl verify', timestamp = new Date()): string {
  const groups = new Map<string, CheckResult[]>();
  for (const r of results) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const total = (rs: readonly CheckResult[]) => rs.reduce((s, r) => s + r.durationMs, 0);
  const count = (rs: readonly CheckResult[], status: CheckResult['status']) => rs.filter((r) => r.status === status).length;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="${xml(suiteName)}" tests="${results.length}" failures="${count(results, 'fail')}" errors="0" skipped="${count(results, 'skip') + count(results, 'exempt')}" time="${seconds(total(results))}" timestamp="${timestamp.toISOString()}">`,
  );
  for (const [group, rs] of groups) {
    out.push(
      `  <testsuite name="${xml(group)}" tests="${rs.length}" failures="${count(rs, 'fail')}" errors="0" skipped="${count(rs, 'skip') + count(rs, 'exempt')}" time="${seconds(total(rs))}">`,
    );
    for (const r of rs) {
      const open = `    <testcase classname="${xml(`shopctl.verify.${group}`)}" name="${xml(r.id)}" time="${seconds(r.durationMs)}"`;
      if (r.status === 'pass') out.push(`${open}>`, `      <system-out>${xml(r.detail)}</system-out>`, '    </testcase>');
      else if (r.status === 'fail') out.push(`${open}>`, `      <failure message="${xml(r.detail)}" type="CheckFailed">${xml(r.detail)}</failure>`, '    </testcase>');
      else out.push(`${open}>`, `      <skipped message="${xml(`${r.status}: ${r.detail}`)}"/>`, '    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}
