import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  buildSlackMessage,
  SEVERITY_COLORS,
  type SlackMessage,
  truncate,
} from '../../src/actions/slack/message.js';
import { parseRetryAfter, sendSlack, sendSlackIncomingWebhook } from '../../src/actions/slack/send.js';
import { createSafeHttp, type SafeHttp } from '../../src/delivery/safe-http.js';

const TOKEN = 'xoxb-test-token';

interface SlackRequest {
  path: string;
  authorization?: string;
  contentType?: string;
  fields: Record<string, unknown>;
}

let server: Server;
let base: string;
let requests: SlackRequest[] = [];

/**
 * A tiny fake of Slack: chat.postMessage (form-encoded, bearer token) and incoming webhooks
 * (JSON). The channel or webhook path picks the answer.
 */
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const fields: Record<string, unknown> = {};
      if (req.headers['content-type']?.startsWith('application/json')) {
        Object.assign(fields, JSON.parse(raw));
      } else {
        for (const [k, v] of new URLSearchParams(raw)) {
          // WebClient sends structured arguments as JSON inside the form.
          fields[k] = k === 'blocks' || k === 'attachments' ? JSON.parse(v) : v;
        }
      }
      const path = req.url ?? '';
      requests.push({
        path,
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        fields,
      });
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

      if (path === '/api/chat.postMessage') {
        if (req.headers.authorization !== `Bearer ${TOKEN}`)
          return json(200, { ok: false, error: 'invalid_auth' });
        switch (fields.channel) {
          case 'rate-limited':
            return json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '30' });
          case 'missing':
            return json(200, { ok: false, error: 'channel_not_found' });
          case 'flaky':
            return json(200, { ok: false, error: 'internal_error' });
          case 'boom':
            return res.writeHead(503).end('upstream down');
          default:
            return json(200, { ok: true, channel: 'C123', ts: '1700000000.000100' });
        }
      }
      if (path === '/services/T1/B1/ok')
        return res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      if (path === '/services/T1/B1/slow-down')
        return res.writeHead(429, { 'retry-after': '12' }).end('rate_limited');
      if (path === '/services/T1/B1/gone') return res.writeHead(404).end('no_service');
      return res.writeHead(404).end('not found');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

afterEach(() => {
  requests = [];
});

const event = {
  event_type: 'RUN_STATE',
  entity_name: 'ml',
  project_name: 'mnist',
  event_author: 'alice',
  run_name: 'fancy-run',
  run_id: 'r1x2',
  run_state: 'FAILED',
};

function allTexts(msg: SlackMessage): string[] {
  return JSON.stringify(msg)
    .match(/"text":"((?:[^"\\]|\\.)*)"/g)!
    .map((m) => JSON.parse(m.slice(7)));
}

describe('buildSlackMessage', () => {
  it('shows the title, message, severity colour, event summary and a link', () => {
    const msg = buildSlackMessage({
      title: 'Training failed',
      message: 'Check the *logs*',
      severity: 'ERROR',
      event,
      url: 'https://tripline.example/ml/mnist/runs/r1x2',
    });
    expect(msg.text).toBe('[ERROR] Training failed — Check the *logs*');
    expect(msg.blocks).toEqual([
      { type: 'header', text: { type: 'plain_text', text: 'Training failed', emoji: true } },
    ]);
    expect(msg.attachments).toHaveLength(1);
    expect(msg.attachments[0].color).toBe(SEVERITY_COLORS.ERROR);
    const texts = allTexts(msg).join('\n');
    expect(texts).toContain('Check the *logs*');
    expect(texts).toContain('*Run*\nfancy-run (r1x2)');
    expect(texts).toContain('*State*\nFAILED');
    expect(texts).toContain('*Author*\nalice');
    expect(texts).toContain('*Project*\nml/mnist');
    expect(texts).toContain('<https://tripline.example/ml/mnist/runs/r1x2|View in Tripline>');
    expect(texts).toContain('Run state changed');
  });

  it('summarises metric and artifact events', () => {
    const metric = buildSlackMessage({
      severity: 'WARN',
      event: { event_type: 'RUN_METRIC', run_name: 'r', metric_name: 'loss', metric_value: 0.123456789 },
    });
    expect(metric.attachments[0].color).toBe(SEVERITY_COLORS.WARN);
    expect(allTexts(metric).join('\n')).toContain('*Metric*\nloss = 0.123457');
    expect(metric.blocks[0]).toMatchObject({ text: { text: 'Run metric crossed a threshold: r' } });

    const artifact = buildSlackMessage({
      severity: 'INFO',
      event: {
        event_type: 'ADD_ARTIFACT_ALIAS',
        artifact_collection_name: 'model',
        artifact_version: 'v3',
        alias: 'production',
        event_author: 'bob',
      },
    });
    expect(artifact.attachments[0].color).toBe('#2EB67D');
    const texts = allTexts(artifact).join('\n');
    expect(texts).toContain('*Artifact*\nmodel:v3');
    expect(texts).toContain('*Alias*\nproduction');
    expect(artifact.text).toBe('[INFO] Artifact alias added: model:v3');
  });

  it('escapes event values so they cannot mention or link', () => {
    const msg = buildSlackMessage({
      severity: 'INFO',
      event: { event_type: 'RUN_STATE', run_name: '<!channel> & <https://evil|click>', run_state: 'FAILED' },
    });
    // `text` and the attachment are mrkdwn; the header is plain_text, which Slack shows literally.
    const mrkdwn = JSON.stringify([msg.text, msg.attachments]);
    expect(mrkdwn).toContain('&lt;!channel&gt; &amp; &lt;https://evil|click&gt;');
    expect(mrkdwn).not.toContain('<!channel>');
    expect(msg.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
  });

  it('keeps within Slack limits, cutting with an ellipsis', () => {
    const long = 'x'.repeat(10_000);
    const msg = buildSlackMessage({
      title: long,
      message: long,
      severity: 'ERROR',
      event: { event_type: 'RUN_STATE', run_name: '&'.repeat(5000), run_id: long, run_state: long },
      url: `https://tripline.example/${long}`,
    });
    const header = msg.blocks[0] as { text: { text: string } };
    expect(header.text.text).toHaveLength(150);
    expect(header.text.text.endsWith('…')).toBe(true);
    const [section, fields] = msg.attachments[0].blocks as Array<{
      text?: { text: string };
      fields?: Array<{ text: string }>;
    }>;
    expect(section.text!.text).toHaveLength(3000);
    for (const field of fields.fields!) {
      expect(field.text.length).toBeLessThanOrEqual(2000);
      // no half entity left before the ellipsis
      expect(field.text).not.toMatch(/&[a-z]{0,3}…$/);
    }
    expect(msg.text.length).toBeLessThanOrEqual(3000);
    expect(msg.blocks.length + msg.attachments[0].blocks!.length).toBeLessThanOrEqual(50);
    // An over-long URL is left out rather than cut into a broken link.
    expect(allTexts(msg).join('\n')).not.toContain('View in Tripline');
  });

  it('property: any input stays within Block Kit limits', () => {
    // Long strings (past every limit) built by repeating a short random pattern, whole characters only.
    const text = fc
      .tuple(
        fc.nat({ max: 4000 }),
        fc.array(fc.constantFrom('a', '&', '<', '>', '😀', '*', ' '), { minLength: 1, maxLength: 8 }),
      )
      .map(([n, pattern]) => Array.from({ length: n }, (_, i) => pattern[i % pattern.length]).join(''));
    fc.assert(
      fc.property(
        fc.record({ title: text, message: text, run_name: text, metric_name: text, tag: text, alias: text }),
        fc.constantFrom('INFO', 'WARN', 'ERROR' as const),
        (v, severity) => {
          const msg = buildSlackMessage({
            title: v.title,
            message: v.message,
            severity,
            event: {
              event_type: 'RUN_METRIC',
              run_name: v.run_name,
              metric_name: v.metric_name,
              metric_value: 1,
              tag: v.tag,
              alias: v.alias,
            },
          });
          const header = msg.blocks[0] as { text: { text: string } };
          expect(header.text.text.length).toBeLessThanOrEqual(150);
          expect(msg.text.length).toBeLessThanOrEqual(3000);
          for (const block of msg.attachments[0].blocks as Array<{
            text?: { text: string };
            fields?: Array<{ text: string }>;
            elements?: Array<{ text: string }>;
          }>) {
            if (block.text) expect(block.text.text.length).toBeLessThanOrEqual(3000);
            for (const f of block.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
            expect((block.fields ?? []).length).toBeLessThanOrEqual(10);
            for (const e of block.elements ?? []) expect(e.text.length).toBeLessThanOrEqual(3000);
          }
          // No lone surrogate is produced by cutting.
          expect(JSON.stringify(msg)).not.toMatch(/\\ud[89a-f][0-9a-f]{2}/i);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('never splits a surrogate pair when truncating', () => {
    expect(truncate('😀😀😀', 4)).toBe('😀…');
    expect(truncate('abc', 3)).toBe('abc');
  });

  it('ignores a link that is not http(s)', () => {
    const msg = buildSlackMessage({ severity: 'INFO', event, url: 'javascript:alert(1)' });
    expect(allTexts(msg).join('\n')).not.toContain('View in Tripline');
  });
});

describe('sendSlack (chat.postMessage against a fake Slack)', () => {
  const message = buildSlackMessage({ title: 'Hi', severity: 'INFO', event });

  it('posts with the bearer token and returns where the message landed', async () => {
    const result = await sendSlack({ apiUrl: `${base}/api`, token: TOKEN, channel: '#alerts', message });
    expect(result).toMatchObject({
      ok: true,
      status: 200,
      channel: 'C123',
      ts: '1700000000.000100',
      retryable: false,
    });
    expect(requests).toHaveLength(1);
    expect(requests[0].authorization).toBe(`Bearer ${TOKEN}`);
    expect(requests[0].fields.channel).toBe('#alerts');
    expect(requests[0].fields.text).toBe(message.text);
    expect(requests[0].fields.attachments).toEqual(message.attachments);
    expect(requests[0].fields.blocks).toEqual(message.blocks);
  });

  it('reports 429 with Retry-After without retrying or waiting', async () => {
    const started = Date.now();
    const result = await sendSlack({
      apiUrl: `${base}/api/`,
      token: TOKEN,
      channel: 'rate-limited',
      message,
    });
    expect(result).toEqual({
      ok: false,
      status: 429,
      error: 'ratelimited',
      retryAfterSeconds: 30,
      retryable: true,
    });
    expect(requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("reports Slack's error field; permanent errors are not retryable", async () => {
    const bad = await sendSlack({ apiUrl: `${base}/api/`, token: 'xoxb-wrong', channel: '#a', message });
    expect(bad).toMatchObject({ ok: false, status: 200, error: 'invalid_auth', retryable: false });
    const missing = await sendSlack({ apiUrl: `${base}/api/`, token: TOKEN, channel: 'missing', message });
    expect(missing).toMatchObject({ ok: false, error: 'channel_not_found', retryable: false });
    const flaky = await sendSlack({ apiUrl: `${base}/api/`, token: TOKEN, channel: 'flaky', message });
    expect(flaky).toMatchObject({ ok: false, error: 'internal_error', retryable: true });
  });

  it('reports HTTP errors once, without the client retrying', async () => {
    const result = await sendSlack({ apiUrl: `${base}/api/`, token: TOKEN, channel: 'boom', message });
    expect(result).toMatchObject({
      ok: false,
      status: 503,
      error: 'http_503',
      retryable: true,
      body: 'upstream down',
    });
    expect(requests).toHaveLength(1);
  });

  it('reports a connection failure as retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await sendSlack({
      apiUrl: `http://127.0.0.1:${port}/api/`,
      token: TOKEN,
      channel: '#a',
      message,
    });
    expect(result.ok).toBe(false);
    expect(result.retryable).toBe(true);
    expect(result.error).toMatch(/^request failed/);
    expect(result.status).toBeUndefined();
  });
});

describe('sendSlackIncomingWebhook (through the safe HTTP client)', () => {
  const message = buildSlackMessage({ title: 'Hook', severity: 'WARN', event });
  let http: SafeHttp;
  beforeAll(() => {
    http = createSafeHttp({ allowPrivate: ['127.0.0.1/32'] });
  });
  afterAll(() => http.close());

  it('posts the message as JSON', async () => {
    const result = await sendSlackIncomingWebhook(`${base}/services/T1/B1/ok`, message, http);
    expect(result).toMatchObject({ ok: true, status: 200, body: 'ok' });
    expect(requests[0].contentType).toBe('application/json');
    expect(requests[0].fields).toEqual(JSON.parse(JSON.stringify(message)));
  });

  it('reports 429 with Retry-After and error texts', async () => {
    expect(await sendSlackIncomingWebhook(`${base}/services/T1/B1/slow-down`, message, http)).toMatchObject({
      ok: false,
      status: 429,
      retryAfterSeconds: 12,
      retryable: true,
    });
    expect(await sendSlackIncomingWebhook(`${base}/services/T1/B1/gone`, message, http)).toMatchObject({
      ok: false,
      status: 404,
      error: 'no_service',
      retryable: false,
    });
  });

  it('refuses private targets unless allow-listed', async () => {
    const strict = createSafeHttp();
    try {
      const result = await sendSlackIncomingWebhook(`${base}/services/T1/B1/ok`, message, strict);
      expect(result).toMatchObject({ ok: false, retryable: false });
      expect(result.error).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
      expect(requests).toHaveLength(0);
    } finally {
      await strict.close();
    }
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30);
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:01:00 GMT', now)).toBe(60);
    expect(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
