import test from 'ava';
import { renderJunit, type CheckResult } from '../../cli/src/formats/junit.js';

const results: CheckResult[] = [
  { id: 'http.health', group: 'http', status: 'pass', detail: 'ok', durationMs: 12 },
  { id: 'hardening.api.memory-limit', group: 'hardening.api', status: 'fail', detail: 'no memory limit <mem_limit> & "quotes"', durationMs: 0 },
  { id: 'tls.certificate', group: 'tls', status: 'exempt', detail: 'self-signed', durationMs: 3 },
  { id: 'journey.all', group: 'journey', status: 'skip', detail: '--skip-journey\u0007', durationMs: 0 },
];

test('JUnit XML: counts, one suite per group, failures with escaped messages', (t) => {
  const xml = renderJunit(results, 'shopctl verify', new Date('2026-11-27T00:00:00Z'));
  t.true(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="shopctl verify" tests="4" failures="1" errors="0" skipped="2" time="0.015" timestamp="2026-11-27T00:00:00.000Z">'));
  t.regex(xml, /<testsuite name="hardening.api" tests="1" failures="1"/);
  t.regex(xml, /<failure message="no memory limit &lt;mem_limit&gt; &amp; &quot;quotes&quot;" type="CheckFailed">/);
  t.regex(xml, /<skipped message="exempt: self-signed"\/>/);
  t.regex(xml, /<skipped message="skip: --skip-journey"\/>/);
  t.false(xml.includes('\u0007'));
  t.is(xml.match(/<testcase /g)?.length, 4);
});
