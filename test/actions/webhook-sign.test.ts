import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { buildWebhookRequest, USER_AGENT } from '../../src/actions/webhook/request.js';
import {
  standardWebhookHeaders,
  standardWebhooksSecret,
  wandbSignature,
} from '../../src/actions/webhook/sign.js';

describe('wandbSignature', () => {
  it('is base64 HMAC-SHA256 of the body keyed with the secret', () => {
    // Independent computation: hex digest converted to base64.
    const hex = createHmac('sha256', 'my-secret').update('{"a":1}').digest('hex');
    expect(wandbSignature('my-secret', '{"a":1}')).toBe(Buffer.from(hex, 'hex').toString('base64'));
  });

  it('hashes the UTF-8 bytes of non-ASCII secrets and bodies', () => {
    const expected = createHmac('sha256', Buffer.from('clé🔑', 'utf8'))
      .update(Buffer.from('{"t":"é😀"}', 'utf8'))
      .digest('base64');
    expect(wandbSignature('clé🔑', '{"t":"é😀"}')).toBe(expected);
  });
});

describe('standardWebhookHeaders', () => {
  it('verifies with the standardwebhooks library given whsec_ + base64(secret)', () => {
    const body = JSON.stringify({ run: 'r1', text: 'ünïcödé "quoted"\n' });
    const headers = standardWebhookHeaders({ id: 'exec_123', timestamp: new Date(), body, secret: 's3cr3t' });
    const wh = new Webhook(standardWebhooksSecret('s3cr3t'));
    expect(wh.verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(headers['webhook-id']).toBe('exec_123');
    expect(headers['webhook-timestamp']).toMatch(/^\d+$/);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
  });

  it('property: any secret and body verify with the oracle, and a changed body does not', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        (secret, text) => {
          const body = JSON.stringify({ text });
          const headers = standardWebhookHeaders({ id: 'msg_1', timestamp: new Date(), body, secret });
          const wh = new Webhook(standardWebhooksSecret(secret));
          expect(() => wh.verify(body, { ...headers })).not.toThrow();
          expect(() => wh.verify(JSON.stringify({ text: `${text}x` }), { ...headers })).toThrow();
        },
      ),
      { numRuns: 200 },
    );
  });

  it('fails verification with another secret or an old timestamp', () => {
    const body = '{}';
    const headers = standardWebhookHeaders({ id: 'm', timestamp: new Date(), body, secret: 'right' });
    expect(() => new Webhook(standardWebhooksSecret('wrong')).verify(body, { ...headers })).toThrow();
    const old = standardWebhookHeaders({
      id: 'm',
      timestamp: new Date(Date.now() - 3600_000),
      body,
      secret: 'right',
    });
    expect(() => new Webhook(standardWebhooksSecret('right')).verify(body, { ...old })).toThrow(/too old/);
  });

  it('matches the library signature byte for byte for a fixed id and time', () => {
    const ts = new Date('2024-05-01T12:00:00.999Z');
    const headers = standardWebhookHeaders({ id: 'msg_x', timestamp: ts, body: '{"a":1}', secret: 'k' });
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(ts.getTime() / 1000)));
    expect(headers['webhook-signature']).toBe(
      new Webhook(standardWebhooksSecret('k')).sign('msg_x', ts, '{"a":1}'),
    );
  });

  it('omits webhook-signature without a secret but keeps id and timestamp', () => {
    const headers = standardWebhookHeaders({ id: 'm1', timestamp: new Date(0), body: '{}' });
    expect(headers).toEqual({ 'webhook-id': 'm1', 'webhook-timestamp': '0' });
    expect(
      standardWebhookHeaders({ id: 'm1', timestamp: new Date(0), body: '{}', secret: '' }),
    ).not.toHaveProperty('webhook-signature');
  });

  it('rejects ids that cannot be sent as a header', () => {
    for (const id of ['', 'a b', 'a\nb', 'é']) {
      expect(() => standardWebhookHeaders({ id, timestamp: new Date(), body: '{}' })).toThrow(RangeError);
    }
  });
});

describe('buildWebhookRequest', () => {
  it('sets every header of the contract when token and secret are set', () => {
    const body = '{"text":"hi"}';
    const req = buildWebhookRequest({
      url: 'https://example.com/hook',
      body,
      messageId: 'exec_1',
      timestamp: new Date(),
      secret: 'sig',
      accessToken: 'tok',
    });
    expect(req.body).toBe(body);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['user-agent']).toBe(USER_AGENT);
    expect(USER_AGENT).toMatch(/^Tripline\/\d+\.\d+\.\d+/);
    expect(req.headers.authorization).toBe('Bearer tok');
    expect(req.headers['x-wandb-signature']).toBe(wandbSignature('sig', body));
    expect(new Webhook(standardWebhooksSecret('sig')).verify(body, req.headers)).toEqual({ text: 'hi' });
  });

  it('sends neither Authorization nor signatures without token and secret', () => {
    const req = buildWebhookRequest({
      url: 'https://e.com',
      body: '{}',
      messageId: 'e',
      timestamp: new Date(),
    });
    expect(Object.keys(req.headers).sort()).toEqual([
      'content-type',
      'user-agent',
      'webhook-id',
      'webhook-timestamp',
    ]);
  });
});
