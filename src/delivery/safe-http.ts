/**
 * Outbound HTTP for user-supplied URLs (webhooks, Slack incoming webhooks) that cannot be turned
 * against the server's own network (SSRF).
 *
 * The check happens where the socket is opened, on the address actually connected to:
 * - hostnames: undici's connector hands our `lookup` to net/tls.connect; it resolves the name,
 *   drops refused addresses and returns only vetted ones, so net connects to nothing else (no
 *   window for DNS rebinding between a check and the connect);
 * - IP literals: net.connect does not call `lookup` for them, so the connector checks them itself.
 *   The WHATWG URL parser has already normalised decimal/hex/octal forms (`http://2130706433/`,
 *   `http://0x7f.1/`) to dotted quads, and undici connects to exactly that text.
 *
 * Refused: every address that is not global unicast (loopback, RFC 1918, link-local, CGNAT,
 * unique-local fc00::/7, multicast, broadcast, unspecified, reserved and documentation ranges),
 * judged on the embedded IPv4 address for IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::/96)
 * addresses. TRIPLINE_ALLOW_PRIVATE_TARGETS (hosts or CIDRs) lifts the refusal, except for cloud
 * metadata endpoints, which are refused always.
 *
 * Redirects are never followed: a 3xx is returned like any response (following one would need the
 * same vetting, and a webhook receiver has no business redirecting a POST).
 */
import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, request } from 'undici';

const ALLOW_ENV = 'TRIPLINE_ALLOW_PRIVATE_TARGETS';

export type SafeHttpErrorKind = 'refused' | 'timeout' | 'connection' | 'invalid_url';

/** A failed send; `message` is meant for the execution history. */
export class SafeHttpError extends Error {
  constructor(
    readonly kind: SafeHttpErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'SafeHttpError';
  }
}

export interface SafeHttpOptions {
  /** Hosts or CIDRs that may be reached although private (TRIPLINE_ALLOW_PRIVATE_TARGETS). */
  allowPrivate?: string[];
  /** Whole-request deadline: DNS, connect, response and body. */
  timeoutMs?: number;
  /** Response body bytes kept; the rest is not read. */
  maxBodyBytes?: number;
  /** Name resolution, replaceable in tests; all addresses of the name. */
  resolve?: (hostname: string) => Promise<string[]>;
}

export interface SafeHttpRequest {
  url: string;
  method?: 'POST' | 'PUT' | 'GET';
  headers?: Record<string, string>;
  body?: string;
}

export interface SafeHttpResponse {
  status: number;
  headers: Record<string, string>;
  /** UTF-8 text of at most maxBodyBytes bytes. */
  body: string;
  bodyTruncated: boolean;
  durationMs: number;
}

export interface SafeHttp {
  /** Resolves with any HTTP response (including 3xx/4xx/5xx); rejects only with SafeHttpError. */
  send(req: SafeHttpRequest): Promise<SafeHttpResponse>;
  close(): Promise<void>;
}

/** Splits the comma-separated TRIPLINE_ALLOW_PRIVATE_TARGETS value. */
export function parseAllowList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

// Cloud metadata endpoints: AWS/GCP/Azure/OpenStack/Oracle (169.254.169.254), AWS ECS task and
// EKS pod identity (169.254.170.2, 169.254.170.23, fd00:ec2::23), AWS IPv6 IMDS (fd00:ec2::254),
// Alibaba (100.100.100.200).
const METADATA_ADDRESSES = new Set(
  [
    '169.254.169.254',
    '169.254.170.2',
    '169.254.170.23',
    '100.100.100.200',
    'fd00:ec2::254',
    'fd00:ec2::23',
  ].map((a) => ipaddr.parse(a).toNormalizedString()),
);
const METADATA_HOSTS = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
]);

const RANGE_DESCRIPTIONS: Record<string, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'a broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT (100.64.0.0/10) address',
  private: 'a private (RFC 1918) address',
  uniqueLocal: 'a unique-local (fc00::/7) address',
  deprecatedSiteLocal: 'a site-local (fec0::/10) address',
};

/** The address that traffic really goes to: the IPv4 inside IPv4-mapped and NAT64 addresses. */
function effectiveAddress(addr: Address): Address {
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
    // Only the well-known 64:ff9b::/96 puts the IPv4 address in the last 32 bits; the local-use
    // 64:ff9b:1::/48 depends on local configuration, so it stays IPv6 and is refused as special.
    if (v6.range() === 'rfc6052' && v6.parts.slice(2, 6).every((p) => p === 0)) {
      return ipaddr.fromByteArray(v6.toByteArray().slice(12));
    }
  }
  return addr;
}

/** Why an address is not public unicast, or undefined when it is. */
function nonPublicReason(addr: Address): string | undefined {
  const range = addr.range();
  if (range === 'unicast') {
    // ipaddr.js calls all of ::/8 unicast; it holds the deprecated IPv4-compatible addresses.
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).parts[0] < 0x100) return 'a reserved address';
    return undefined;
  }
  return RANGE_DESCRIPTIONS[range] ?? `a reserved or special-purpose (${range}) address`;
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

function parseIpLiteral(text: string): Address | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  // net.isIP is strict (dotted quads only), unlike ipaddr.isValid which accepts `0x7f.1`.
  return isIP(bare) ? ipaddr.parse(bare) : undefined;
}

/** Which targets may be reached; built once from the allow-list. */
export interface TargetPolicy {
  /** A refusal message for connecting to `address` (reached via `hostname`), or undefined. */
  checkAddress(address: string, hostname?: string): string | undefined;
  /** A refusal message for a host name before it is resolved, or undefined. */
  checkHostname(hostname: string): string | undefined;
}

export function createTargetPolicy(allowPrivate: string[] = []): TargetPolicy {
  const cidrs: Array<[Address, number]> = [];
  const hosts = new Set<string>();
  for (const entry of allowPrivate) {
    const text = entry.trim();
    try {
      if (text.includes('/')) {
        const [addr, bits] = ipaddr.parseCIDR(text.replace(/^\[(.*)\](\/\d+)$/, '$1$2'));
        cidrs.push([effectiveAddress(addr), bits]);
        continue;
      }
      const literal = parseIpLiteral(text);
      if (literal) {
        const addr = effectiveAddress(literal);
        cidrs.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
        continue;
      }
    } catch {
      // fall through to the error below
    }
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(text)) {
      throw new Error(`${ALLOW_ENV}: "${entry}" is not a host name, IP address or CIDR (e.g. 10.0.0.0/8)`);
    }
    hosts.add(normaliseHost(text));
  }

  const allowed = (addr: Address, hostname: string | undefined): boolean =>
    (hostname !== undefined && hosts.has(normaliseHost(hostname))) ||
    cidrs.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));

  return {
    checkHostname(hostname) {
      if (METADATA_HOSTS.has(normaliseHost(hostname))) {
        return `refused: ${hostname} is a cloud metadata host, which is always refused`;
      }
      return undefined;
    },
    checkAddress(address, hostname) {
      // A zone index (fe80::1%eth0) says which interface, not which address.
      const raw = ipaddr.parse(address.replace(/%.*$/, ''));
      const addr = effectiveAddress(raw);
      const shown = raw === addr ? address : `${address} (${addr.toString()})`;
      const subject =
        hostname && parseIpLiteral(hostname) === undefined
          ? `${hostname} resolves to ${shown}, which`
          : shown;
      if (METADATA_ADDRESSES.has(addr.toNormalizedString())) {
        return `refused: ${subject} is a cloud metadata address, which is always refused`;
      }
      const reason = nonPublicReason(addr);
      if (reason === undefined || allowed(addr, hostname)) return undefined;
      return `refused: ${subject} is ${reason}; allow it with ${ALLOW_ENV}`;
    },
  };
}

function familyNumber(family: number | string | undefined): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

function systemResolve(hostname: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (err, addresses) =>
      err ? reject(err) : resolve(addresses.map((a) => a.address)),
    );
  });
}

export function createSafeHttp(opts: SafeHttpOptions = {}): SafeHttp {
  const policy = createTargetPolicy(opts.allowPrivate);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxBodyBytes = opts.maxBodyBytes ?? 4096;
  const resolve = opts.resolve ?? systemResolve;

  // net/tls.connect call this for host names (with `all: true` when Happy Eyeballs is on, the
  // default); whatever it returns is all they may connect to.
  const vettedLookup: LookupFunction = (hostname, options, callback) => {
    const wantAll = typeof options === 'object' && options.all === true;
    const family = familyNumber(typeof options === 'object' ? options.family : options);
    vetHostname(hostname, family).then(
      (vetted) => {
        if (wantAll) {
          const all = vetted.map((address) => ({ address, family: isIP(address) }));
          (callback as (err: null, addresses: typeof all) => void)(null, all);
        } else {
          callback(null, vetted[0], isIP(vetted[0]));
        }
      },
      (err: Error) => callback(err, '', 0),
    );
  };

  async function vetHostname(hostname: string, family: 0 | 4 | 6): Promise<string[]> {
    const refusal = policy.checkHostname(hostname);
    if (refusal) throw new SafeHttpError('refused', refusal);
    const addresses = (await resolve(hostname)).filter(
      (a) => isIP(a) !== 0 && (family === 0 || isIP(a) === family),
    );
    const refusals = addresses.map((a) => policy.checkAddress(a, hostname));
    const vetted = addresses.filter((_, i) => refusals[i] === undefined);
    if (vetted.length > 0) return vetted;
    const message = refusals.find((r) => r !== undefined);
    if (message) throw new SafeHttpError('refused', message);
    throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
  }

  const connectVetted = buildConnector({ timeout: timeoutMs, lookup: vettedLookup });
  const agent = new Agent({
    connect(connectOpts, callback) {
      // undici passes IPv6 literals without brackets.
      if (isIP(connectOpts.hostname)) {
        const refusal = policy.checkAddress(connectOpts.hostname);
        if (refusal) {
          callback(new SafeHttpError('refused', refusal), null);
          return;
        }
      }
      connectVetted(connectOpts, callback);
    },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });

  return {
    async send(req) {
      const url = parseTarget(req.url);
      const started = performance.now();
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        const res = await request(url, {
          dispatcher: agent,
          method: req.method ?? 'POST',
          headers: req.headers,
          body: req.body,
          signal,
        });
        const { text, truncated } = await readCapped(res.body, maxBodyBytes);
        return {
          status: res.statusCode,
          headers: flattenHeaders(res.headers),
          body: text,
          bodyTruncated: truncated,
          durationMs: Math.round(performance.now() - started),
        };
      } catch (err) {
        throw toSafeHttpError(err, signal, url, timeoutMs);
      }
    },
    close: () => agent.close(),
  };
}

function parseTarget(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SafeHttpError('invalid_url', `invalid URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SafeHttpError(
      'invalid_url',
      `invalid URL: only http and https are allowed, not ${url.protocol}`,
    );
  }
  if (url.username || url.password) {
    // Credentials in a URL end up in logs and history; the integration's access token is the place.
    throw new SafeHttpError('invalid_url', 'invalid URL: user name or password in the URL is not supported');
  }
  url.hash = '';
  return url;
}

async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  maxBytes: number,
): Promise<{ text: string; truncated: boolean }> {
  // StringDecoder holds back a multi-byte character cut at the limit instead of mangling it.
  const decoder = new StringDecoder('utf8');
  let text = '';
  let kept = 0;
  for await (const chunk of body) {
    const room = maxBytes - kept;
    if (chunk.length > room) {
      text += decoder.write(chunk.subarray(0, room));
      // Stop reading: a huge or endless response must not hold the worker.
      body.destroy();
      return { text, truncated: true };
    }
    text += decoder.write(chunk);
    kept += chunk.length;
  }
  return { text: text + decoder.end(), truncated: false };
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

function toSafeHttpError(err: unknown, signal: AbortSignal, url: URL, timeoutMs: number): SafeHttpError {
  if (err instanceof SafeHttpError) return err;
  const code = (err as { code?: string })?.code ?? '';
  const detail = err instanceof Error ? err.message : String(err);
  if (signal.aborted || TIMEOUT_CODES.has(code)) {
    return new SafeHttpError(
      'timeout',
      `timeout: no complete response from ${url.host} within ${timeoutMs} ms`,
    );
  }
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new SafeHttpError('connection', `connection failed: cannot resolve host ${url.hostname}`);
    case 'ECONNREFUSED':
      return new SafeHttpError('connection', `connection failed: ${url.host} refused the connection`);
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return new SafeHttpError(
        'connection',
        `connection failed: ${url.host} closed the connection (${detail})`,
      );
    default:
      return new SafeHttpError(
        'connection',
        `connection failed: ${url.host}: ${code ? `${code} ` : ''}${detail}`,
      );
  }
}
