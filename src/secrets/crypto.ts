/**
 * Encryption of secret values at rest (reference.md §5, api.md "master key for secrets").
 *
 * Master key: `TRIPLINE_MASTER_KEY` (base64 of 32 bytes) when set, else a key generated once into
 * `<dataDir>/master.key` (base64 text, mode 0600; the same format as the variable, so it can be
 * moved into the environment later).
 *
 * Rotation: set `TRIPLINE_MASTER_KEY` to the new key and `TRIPLINE_MASTER_KEY_PREVIOUS` to the old
 * one (comma-separated if several; for a generated key: `TRIPLINE_MASTER_KEY_PREVIOUS=$(cat
 * <dataDir>/master.key)`). New values are encrypted with the new key; old values still decrypt
 * because every blob names its key; `needsReencryption` + `reencrypt` let a job move old values to
 * the new key, after which the previous key can be dropped.
 *
 * Blob: `v1:<keyId>:<iv b64>:<tag b64>:<ciphertext b64>`, AES-256-GCM with a random 96-bit IV.
 * The AAD binds the version and key id (and an optional context such as `team/secret-name`), so a
 * blob cannot be relabelled to another key or, with a context, moved to another secret's row.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
const KEY_FILE = 'master.key';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A secret blob that cannot be decrypted; the message never contains secret material. */
export class SecretDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretDecryptionError';
  }
}

export interface Keyring {
  /** Id of the key new blobs are encrypted with. */
  readonly currentKeyId: string;
  /** Ids of all loaded keys, current first. */
  readonly keyIds: readonly string[];
  encrypt(plaintext: string, context?: string): string;
  decrypt(blob: string, context?: string): string;
  /** True when the blob was encrypted with a previous key. */
  needsReencryption(blob: string): boolean;
  /** The same plaintext encrypted with the current key. */
  reencrypt(blob: string, context?: string): string;
}

/** First 8 hex digits of sha256(key): identifies a key without revealing it. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Builds a keyring; `current` encrypts, every key decrypts. */
export function createKeyring(current: Buffer, previous: Buffer[] = []): Keyring {
  const keys = new Map<string, Buffer>();
  for (const key of [current, ...previous]) {
    if (key.length !== KEY_BYTES)
      throw new Error(`a master key must be ${KEY_BYTES} bytes, not ${key.length}`);
    const id = keyId(key);
    if (!keys.has(id)) keys.set(id, Buffer.from(key));
  }
  const currentKeyId = keyId(current);

  const aad = (id: string, context: string | undefined) =>
    Buffer.from(context === undefined ? `${VERSION}:${id}` : `${VERSION}:${id}:${context}`, 'utf8');

  function encrypt(plaintext: string, context?: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', keys.get(currentKeyId)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(currentKeyId, context));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, currentKeyId, iv.toString('base64'), tag.toString('base64'), ct.toString('base64')].join(
      ':',
    );
  }

  function parse(blob: string): { id: string; iv: Buffer; tag: Buffer; ct: Buffer } {
    const parts = blob.split(':');
    if (parts.length !== 5 || parts[0] !== VERSION || !/^[0-9a-f]{8}$/.test(parts[1])) {
      throw new SecretDecryptionError(
        'not an encrypted secret (expected v1:<keyId>:<iv>:<tag>:<ciphertext>)',
      );
    }
    const [, id, iv, tag, ct] = parts;
    if (![iv, tag, ct].every((p) => BASE64.test(p))) {
      throw new SecretDecryptionError('encrypted secret is corrupted (bad base64)');
    }
    return {
      id,
      iv: Buffer.from(iv, 'base64'),
      tag: Buffer.from(tag, 'base64'),
      ct: Buffer.from(ct, 'base64'),
    };
  }

  function decrypt(blob: string, context?: string): string {
    const { id, iv, tag, ct } = parse(blob);
    const key = keys.get(id);
    if (!key) {
      throw new SecretDecryptionError(
        `secret was encrypted with master key ${id}, which is not loaded (loaded: ${[...keys.keys()].join(', ')}); ` +
          'set TRIPLINE_MASTER_KEY_PREVIOUS to that key',
      );
    }
    // GCM accepts truncated tags unless the length is pinned; a short tag would weaken integrity.
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretDecryptionError('encrypted secret is corrupted (bad IV or tag length)');
    }
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(id, context));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretDecryptionError(
        `encrypted secret failed authentication with master key ${id} (tampered)`,
      );
    }
  }

  return {
    currentKeyId,
    keyIds: [...keys.keys()],
    encrypt,
    decrypt,
    needsReencryption: (blob) => parse(blob).id !== currentKeyId,
    reencrypt: (blob, context) => encrypt(decrypt(blob, context), context),
  };
}

/** Parses a base64 master key, naming `source` in the error so the operator knows what to fix. */
export function parseMasterKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  const key = BASE64.test(trimmed) ? Buffer.from(trimmed, 'base64') : undefined;
  if (key?.length !== KEY_BYTES) {
    const got = key ? `${key.length} bytes` : 'not valid base64';
    throw new Error(
      `${source} must be base64 of exactly ${KEY_BYTES} bytes (got ${got}); generate one with: openssl rand -base64 32`,
    );
  }
  return key;
}

/**
 * Loads the keyring at startup. Throws a clear error for a malformed key; never silently
 * generates a new key when one is configured but wrong (that would orphan every stored secret).
 */
export function loadMasterKey(opts: { dataDir: string; env?: NodeJS.ProcessEnv }): Keyring {
  const env = opts.env ?? process.env;
  const previous = (env.TRIPLINE_MASTER_KEY_PREVIOUS ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s, i) => parseMasterKey(s, `TRIPLINE_MASTER_KEY_PREVIOUS (key ${i + 1})`));
  if (env.TRIPLINE_MASTER_KEY?.trim()) {
    return createKeyring(parseMasterKey(env.TRIPLINE_MASTER_KEY, 'TRIPLINE_MASTER_KEY'), previous);
  }
  return createKeyring(readOrCreateKeyFile(opts.dataDir), previous);
}

function readOrCreateKeyFile(dataDir: string): Buffer {
  const path = join(dataDir, KEY_FILE);
  const existing = readKeyFile(path);
  if (existing) return existing;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Write a temporary file, then hard-link it into place: the link fails if another process got
  // there first, so two processes starting together agree on one key and nobody reads a
  // half-written file.
  const tmp = join(dataDir, `.${KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  return readKeyFile(path)!;
}

function readKeyFile(path: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseMasterKey(text, path);
}
