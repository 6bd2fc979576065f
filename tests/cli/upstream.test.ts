import test from 'ava';
import { readUpstreamServers, replaceUpstreamServers, serverAddress } from '../../cli/src/formats/upstream.js';

// As config/nginx/templates/api-upstream.conf.template renders it.
const rendered = `# Rendered at start; shopctl replaces this file during rolling deploys.
upstream api {
    server api:8000;
    keepalive 32;
    # Below the API's 65 s keep-alive.
    keepalive_timeout 60s;
    keepalive_requests 1000;
}
`;

test('reads the servers of the api upstream', (t) => {
  t.deepEqual(readUpstreamServers(rendered), [{ address: 'api:8000', params: '' }]);
  t.is(readUpstreamServers('upstream other { server x:1; }'), undefined);
});

test('switching to container addresses keeps every other directive', (t) => {
  const out = replaceUpstreamServers(rendered, ['172.18.0.7:8000', '172.18.0.8:8000']);
  t.is(
    out,
    `# Rendered at start; shopctl replaces this file during rolling deploys.
upstream api {
    server 172.18.0.7:8000;
    server 172.18.0.8:8000;
    keepalive 32;
    keepalive_timeout 60s;
    keepalive_requests 1000;
}
`,
  );
  t.deepEqual(
    readUpstreamServers(out)?.map((s) => s.address),
    ['172.18.0.7:8000', '172.18.0.8:8000'],
  );
});

test('back to the service name, and server parameters carried over', (t) => {
  const withParams = 'upstream api { server 10.0.0.1:8000 max_fails=2 fail_timeout=5s; keepalive 8; }';
  const out = replaceUpstreamServers(withParams, ['api:8000']);
  t.deepEqual(readUpstreamServers(out), [{ address: 'api:8000', params: 'max_fails=2 fail_timeout=5s' }]);
  t.regex(out, /keepalive 8;/);
});

test('commented-out servers are neither read nor kept; other upstream blocks are untouched', (t) => {
  const config = 'upstream api {\n    # server old:8000;\n    server api:8000;\n}\nupstream other {\n    server x:1;\n}\n';
  t.deepEqual(readUpstreamServers(config)?.map((s) => s.address), ['api:8000']);
  const out = replaceUpstreamServers(config, ['10.0.0.2:8000']);
  t.regex(out, /upstream other \{\n {4}server x:1;\n\}/);
  t.notRegex(out, /old:8000/);
});

test('refuses addresses that could inject configuration, and an empty list', (t) => {
  t.throws(() => replaceUpstreamServers(rendered, []), { message: /at least one server/ });
  t.throws(() => replaceUpstreamServers(rendered, ['1.2.3.4:8000; include /etc/passwd']), { message: /not a server address/ });
  t.throws(() => replaceUpstreamServers('http {}', ['1.2.3.4:8000']), { message: /no "upstream api/ });
});

test('IPv6 addresses get brackets', (t) => {
  t.is(serverAddress('172.18.0.7'), '172.18.0.7:8000');
  t.is(serverAddress('fd00::7', 8000), '[fd00::7]:8000');
});
