import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createSafeHttp,
  createTargetPolicy,
  parseAllowList,
  type SafeHttp,
  SafeHttpError,
  type SafeHttpOptions,
} from '../../src/delivery/safe-http.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let port: number;
let received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      switch (req.url) {
        case '/ok':
          res.writeHead(201, { 'content-type': 'text/plain', 'x-answer': '42' }).end('thanks');
          return;
        case '/redirect':
          res.writeHead(302, { location: `http://localhost:${port}/ok` }).end();
          return;
        case '/big':
          // 10 000 × 'é' (2 bytes each): the cut at 4096 bytes falls on a character boundary or not.
          res.writeHead(200).end(`x${'é'.repeat(10_000)}`);
          return;
        case '/hang':
          return; // never answers
        case '/reset':
          req.socket.resetAndDestroy();
          return;
        default:
          res.writeHead(404).end('not found');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const clients: SafeHttp[] = [];
function client(opts: SafeHttpOptions = {}): SafeHttp {
  const http = createSafeHttp(opts);
  clients.push(http);
  return http;
}

afterEach(async () => {
  received = [];
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function sendError(http: SafeHttp, url: string): Promise<SafeHttpError> {
  try {
    await http.send({ url, body: '{}' });
  } catch (err) {
    expect(err).toBeInstanceOf(SafeHttpError);
    return err as SafeHttpError;
  }
  throw new Error(`expected ${url} to fail`);
}

describe('refusals (nothing is sent)', () => {
  const cases: Array<[string, RegExp]> = [
    [
      'http://127.0.0.1:PORT/ok',
      /^refused: 127\.0\.0\.1 is a loopback address; allow it with TRIPLINE_ALLOW_PRIVATE_TARGETS$/,
    ],
    ['http://[::1]:PORT/ok', /::1 is a loopback address/],
    ['http://[::ffff:127.0.0.1]:PORT/ok', /::ffff:7f00:1 \(127\.0\.0\.1\) is a loopback address/],
    ['http://2130706433:PORT/ok', /127\.0\.0\.1 is a loopback address/],
    ['http://0x7f.0.0.1:PORT/ok', /127\.0\.0\.1 is a loopback address/],
    ['http://0177.0.0.1:PORT/ok', /127\.0\.0\.1 is a loopback address/],
    ['http://127.1:PORT/ok', /127\.0\.0\.1 is a loopback address/],
    [
      'http://169.254.169.254/latest/meta-data/',
      /169\.254\.169\.254 is a cloud metadata address, which is always refused/,
    ],
    ['http://[fd00:ec2::254]/', /cloud metadata address/],
    ['http://[::ffff:169.254.169.254]/', /cloud metadata address/],
    [
      'http://metadata.google.internal/computeMetadata/v1/',
      /metadata\.google\.internal is a cloud metadata host/,
    ],
    ['http://10.0.0.1/', /10\.0\.0\.1 is a private \(RFC 1918\) address/],
    ['http://172.16.5.4/', /private \(RFC 1918\)/],
    ['http://192.168.1.1/', /private \(RFC 1918\)/],
    ['http://169.254.1.1/', /link-local/],
    ['http://100.64.0.1/', /carrier-grade NAT/],
    ['http://[fc00::1]/', /unique-local/],
    ['http://[fd12:3456::1]/', /unique-local/],
    ['http://[fe80::1]/', /link-local/],
    ['http://0.0.0.0:PORT/', /unspecified/],
    ['http://[::]:PORT/', /unspecified/],
    ['http://224.0.0.1/', /multicast/],
    ['http://255.255.255.255/', /broadcast/],
    ['http://[64:ff9b::7f00:1]/', /64:ff9b::7f00:1 \(127\.0\.0\.1\) is a loopback address/],
    ['http://[::127.0.0.1]/', /reserved/],
    [
      'http://localhost:PORT/ok',
      /^refused: localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/,
    ],
  ];
  for (const [template, message] of cases) {
    it(`refuses ${template}`, async () => {
      const err = await sendError(client(), template.replace('PORT', String(port)));
      expect(err.kind).toBe('refused');
      expect(err.message).toMatch(message);
      expect(received).toHaveLength(0);
    });
  }

  it('refuses a host name whose DNS answer is private (checked on the resolved address)', async () => {
    const http = client({ resolve: async () => ['10.1.2.3'] });
    const err = await sendError(http, 'http://rebind.example/');
    expect(err.kind).toBe('refused');
    expect(err.message).toBe(
      'refused: rebind.example resolves to 10.1.2.3, which is a private (RFC 1918) address; allow it with TRIPLINE_ALLOW_PRIVATE_TARGETS',
    );
  });

  it('connects only to the vetted addresses of a mixed DNS answer', async () => {
    // 127.0.0.1 (the main test server) comes first but is not allowed; only 127.0.0.2 is, where a
    // second server listens on the same port. Handing net the unfiltered answer would reach the first.
    const second = createServer((_req, res) => res.writeHead(200).end('second'));
    await new Promise<void>((resolve) => second.listen(port, '127.0.0.2', resolve));
    try {
      const http = client({
        allowPrivate: ['127.0.0.2/32'],
        resolve: async () => ['127.0.0.1', '127.0.0.2'],
      });
      const res = await http.send({ url: `http://mixed.example:${port}/ok`, body: 'x' });
      expect(res).toMatchObject({ status: 200, body: 'second' });
      expect(received).toHaveLength(0);
    } finally {
      second.closeAllConnections();
      await new Promise((resolve) => second.close(resolve));
    }
  });

  it('refuses cloud metadata even when everything is allow-listed', async () => {
    const http = client({ allowPrivate: ['0.0.0.0/0', '::/0', 'metadata.internal.example'] });
    for (const url of ['http://169.254.169.254/', 'http://[fd00:ec2::254]/', 'http://100.100.100.200/']) {
      const err = await sendError(http, url);
      expect(err.kind).toBe('refused');
      expect(err.message).toMatch(/cloud metadata address, which is always refused/);
    }
    const viaDns = client({
      allowPrivate: ['0.0.0.0/0', 'metadata.internal.example'],
      resolve: async () => ['169.254.169.254'],
    });
    expect((await sendError(viaDns, 'http://metadata.internal.example/')).message).toMatch(/always refused/);
  });

  it('does not follow a redirect to loopback: the 3xx is the result', async () => {
    const http = client({ allowPrivate: ['127.0.0.1/32'] });
    const res = await http.send({ url: `http://127.0.0.1:${port}/redirect`, body: '{}' });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`http://localhost:${port}/ok`);
    expect(received.map((r) => r.url)).toEqual(['/redirect']);
  });
});

describe('allowed targets', () => {
  it('delivers to a loopback server allow-listed by CIDR', async () => {
    const http = client({ allowPrivate: ['127.0.0.1/32'] });
    const res = await http.send({
      url: `http://127.0.0.1:${port}/ok`,
      headers: { 'content-type': 'application/json', 'x-custom': 'yes' },
      body: '{"hello":"wörld"}',
    });
    expect(res).toMatchObject({ status: 201, body: 'thanks', bodyTruncated: false });
    expect(res.headers['x-answer']).toBe('42');
    expect(res.durationMs).toBeGreaterThanOrEqual(0);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', url: '/ok', body: '{"hello":"wörld"}' });
    expect(received[0].headers['x-custom']).toBe('yes');
  });

  it('delivers to a host name allow-listed by name, connecting to its resolved address', async () => {
    const http = client({ allowPrivate: ['hooks.internal.example'], resolve: async () => ['127.0.0.1'] });
    const res = await http.send({ url: `http://Hooks.Internal.Example.:${port}/ok`, body: 'x' });
    expect(res.status).toBe(201);
    expect(received[0].headers.host).toBe(`hooks.internal.example.:${port}`);
  });

  it('allows IPv4-mapped addresses through an IPv4 allow-list entry', async () => {
    // Only checks the policy: whether ::ffff:127.0.0.1 is connectable depends on the host.
    expect(createTargetPolicy(['127.0.0.1/32']).checkAddress('::ffff:127.0.0.1')).toBeUndefined();
  });

  it('returns 4xx responses as results', async () => {
    const http = client({ allowPrivate: ['127.0.0.1'] });
    const res = await http.send({ url: `http://127.0.0.1:${port}/missing`, body: '' });
    expect(res).toMatchObject({ status: 404, body: 'not found' });
  });

  it('keeps at most maxBodyBytes of the response, never splitting a character', async () => {
    const http = client({ allowPrivate: ['127.0.0.1'] });
    const res = await http.send({ url: `http://127.0.0.1:${port}/big` });
    expect(res.bodyTruncated).toBe(true);
    // 'x' + 2047 × 'é' = 4095 bytes; the 4096th byte starts an 'é' and is held back.
    expect(res.body).toBe(`x${'é'.repeat(2047)}`);
    expect(Buffer.byteLength(res.body)).toBeLessThanOrEqual(4096);
  });
});

describe('failures', () => {
  it('times out against a server that never answers', async () => {
    const http = client({ allowPrivate: ['127.0.0.1'], timeoutMs: 300 });
    const started = Date.now();
    const err = await sendError(http, `http://127.0.0.1:${port}/hang`);
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/timeout: no complete response from 127\.0\.0\.1:\d+ within 300 ms/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('reports a connection reset', async () => {
    const http = client({ allowPrivate: ['127.0.0.1'] });
    const err = await sendError(http, `http://127.0.0.1:${port}/reset`);
    expect(err.kind).toBe('connection');
    expect(err.message).toMatch(/^connection failed: 127\.0\.0\.1:\d+/);
  });

  it('reports a refused connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await sendError(client({ allowPrivate: ['127.0.0.1'] }), `http://127.0.0.1:${closedPort}/`);
    expect(err).toMatchObject({
      kind: 'connection',
      message: `connection failed: 127.0.0.1:${closedPort} refused the connection`,
    });
  });

  it('reports an unresolvable host as a connection failure', async () => {
    const enotfound = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    const http = client({
      resolve: async () => {
        throw enotfound;
      },
    });
    const err = await sendError(http, 'http://no-such-host.example/');
    expect(err).toMatchObject({
      kind: 'connection',
      message: 'connection failed: cannot resolve host no-such-host.example',
    });
  });

  it('rejects invalid URLs and other schemes before connecting', async () => {
    const http = client();
    for (const url of [
      'not a url',
      'ftp://example.com/',
      'file:///etc/passwd',
      'http://user:pw@example.com/',
    ]) {
      expect((await sendError(http, url)).kind).toBe('invalid_url');
    }
  });
});

describe('target policy', () => {
  it('accepts public unicast addresses', () => {
    const policy = createTargetPolicy();
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '64:ff9b::808:808']) {
      expect(policy.checkAddress(address)).toBeUndefined();
    }
    expect(policy.checkAddress('64:ff9b:1::a00:1')).toMatch(/special-purpose/);
    expect(policy.checkAddress('fe80::1%eth0')).toMatch(/link-local/);
  });

  it('reads the allow-list from the environment value and rejects nonsense', () => {
    expect(parseAllowList(' 127.0.0.1/32, ,hooks.local,[::1] ')).toEqual([
      '127.0.0.1/32',
      'hooks.local',
      '[::1]',
    ]);
    expect(parseAllowList(undefined)).toEqual([]);
    const policy = createTargetPolicy(parseAllowList('10.0.0.0/8,[::1],hooks.local'));
    expect(policy.checkAddress('10.9.9.9')).toBeUndefined();
    expect(policy.checkAddress('::1')).toBeUndefined();
    expect(policy.checkAddress('192.168.0.1')).toMatch(/private/);
    expect(policy.checkAddress('192.168.0.1', 'hooks.local')).toBeUndefined();
    expect(() => createTargetPolicy(['10.0.0.0/99'])).toThrow(
      /TRIPLINE_ALLOW_PRIVATE_TARGETS: "10.0.0.0\/99"/,
    );
    expect(() => createTargetPolicy(['http://x'])).toThrow(/TRIPLINE_ALLOW_PRIVATE_TARGETS/);
  });
});
