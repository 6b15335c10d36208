import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createKeyring,
  keyId,
  loadMasterKey,
  parseMasterKey,
  SecretDecryptionError,
} from '../../src/secrets/crypto.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tripline-secrets-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const b64 = (key: Buffer) => key.toString('base64');

describe('keyring', () => {
  const key = randomBytes(32);

  it('round-trips any text and uses a fresh IV each time', () => {
    const ring = createKeyring(key);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(ring.decrypt(ring.encrypt(text))).toBe(text);
      }),
    );
    expect(ring.encrypt('same')).not.toBe(ring.encrypt('same'));
  });

  it('writes v1:<keyId>:<iv>:<tag>:<ct> with the key id = 8 hex of sha256(key)', () => {
    const ring = createKeyring(key);
    const blob = ring.encrypt('hello');
    const [version, id, iv, tag, ct] = blob.split(':');
    expect(version).toBe('v1');
    expect(id).toBe(keyId(key));
    expect(id).toMatch(/^[0-9a-f]{8}$/);
    expect(Buffer.from(iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(tag, 'base64')).toHaveLength(16);
    expect(Buffer.from(ct, 'base64')).toHaveLength(5);
    expect(blob).not.toContain('hello');
  });

  it('detects tampering with the ciphertext, tag, IV or key id', () => {
    const ring = createKeyring(key);
    const blob = ring.encrypt('top secret value');
    const parts = blob.split(':');
    const flip = (b: string) => {
      const buf = Buffer.from(b, 'base64');
      buf[0] ^= 1;
      return buf.toString('base64');
    };
    for (const i of [2, 3, 4]) {
      const tampered = [...parts];
      tampered[i] = flip(tampered[i]);
      expect(() => ring.decrypt(tampered.join(':'))).toThrow(SecretDecryptionError);
    }
    // A truncated tag must not be accepted (GCM would otherwise verify fewer bits).
    const shortTag = [...parts];
    shortTag[3] = Buffer.from(parts[3], 'base64').subarray(0, 4).toString('base64');
    expect(() => ring.decrypt(shortTag.join(':'))).toThrow(/corrupted/);
    for (const bad of [
      '',
      'plain text',
      'v2:abcdef01:a:b:c',
      `${blob}:extra`,
      blob.replace(/:[^:]+$/, ':!!!'),
    ]) {
      expect(() => ring.decrypt(bad)).toThrow(SecretDecryptionError);
    }
  });

  it('relabelling a blob to another loaded key fails authentication', () => {
    const other = randomBytes(32);
    const ring = createKeyring(key, [other]);
    const parts = ring.encrypt('x').split(':');
    parts[1] = keyId(other);
    expect(() => ring.decrypt(parts.join(':'))).toThrow(SecretDecryptionError);
  });

  it('binds an optional context: a blob cannot be moved to another secret', () => {
    const ring = createKeyring(key);
    const blob = ring.encrypt('v', 'ml/API_TOKEN');
    expect(ring.decrypt(blob, 'ml/API_TOKEN')).toBe('v');
    expect(() => ring.decrypt(blob, 'other/API_TOKEN')).toThrow(SecretDecryptionError);
    expect(() => ring.decrypt(blob)).toThrow(SecretDecryptionError);
  });

  it('refuses to decrypt with the wrong key, naming the missing key id', () => {
    const blob = createKeyring(key).encrypt('x');
    const wrong = createKeyring(randomBytes(32));
    expect(() => wrong.decrypt(blob)).toThrow(new RegExp(`master key ${keyId(key)}, which is not loaded`));
  });

  it('error messages never contain the plaintext or key', () => {
    const ring = createKeyring(key);
    const blob = ring.encrypt('hunter2-plaintext');
    let message = '';
    try {
      ring.decrypt(blob.slice(0, -4));
    } catch (err) {
      message = String(err);
    }
    expect(message).toMatch(/SecretDecryptionError/);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain(b64(key));
  });
});

describe('rotation', () => {
  it('decrypts old blobs with the previous key and re-encrypts them with the new one', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const oldBlob = createKeyring(oldKey).encrypt('s3cret', 'ml/S');

    const ring = loadMasterKey({
      dataDir: tempDir(),
      env: { TRIPLINE_MASTER_KEY: b64(newKey), TRIPLINE_MASTER_KEY_PREVIOUS: b64(oldKey) },
    });
    expect(ring.currentKeyId).toBe(keyId(newKey));
    expect(ring.keyIds).toEqual([keyId(newKey), keyId(oldKey)]);
    expect(ring.decrypt(oldBlob, 'ml/S')).toBe('s3cret');
    expect(ring.needsReencryption(oldBlob)).toBe(true);

    const moved = ring.reencrypt(oldBlob, 'ml/S');
    expect(ring.needsReencryption(moved)).toBe(false);
    expect(moved.split(':')[1]).toBe(keyId(newKey));
    // Once everything is moved, the previous key can go.
    expect(createKeyring(newKey).decrypt(moved, 'ml/S')).toBe('s3cret');
    expect(() => createKeyring(newKey).decrypt(oldBlob, 'ml/S')).toThrow(/TRIPLINE_MASTER_KEY_PREVIOUS/);
  });

  it('accepts several comma-separated previous keys, including a generated key file', () => {
    const dir = tempDir();
    const generated = loadMasterKey({ dataDir: dir, env: {} });
    const blob = generated.encrypt('from file');
    const fileKey = readFileSync(join(dir, 'master.key'), 'utf8').trim();
    const other = b64(randomBytes(32));
    const ring = loadMasterKey({
      dataDir: dir,
      env: {
        TRIPLINE_MASTER_KEY: b64(randomBytes(32)),
        TRIPLINE_MASTER_KEY_PREVIOUS: `${other}, ${fileKey}`,
      },
    });
    expect(ring.keyIds).toHaveLength(3);
    expect(ring.decrypt(blob)).toBe('from file');
  });
});

describe('loadMasterKey', () => {
  it('uses TRIPLINE_MASTER_KEY and writes no file', () => {
    const dir = join(tempDir(), 'data');
    const key = randomBytes(32);
    const ring = loadMasterKey({ dataDir: dir, env: { TRIPLINE_MASTER_KEY: ` ${b64(key)}\n` } });
    expect(ring.currentKeyId).toBe(keyId(key));
    expect(() => statSync(dir)).toThrow();
  });

  it('rejects a key that is not base64 of 32 bytes with a clear message', () => {
    for (const [value, got] of [
      [b64(randomBytes(16)), '16 bytes'],
      [b64(randomBytes(33)), '33 bytes'],
      ['not base64 at all!', 'not valid base64'],
      [b64(randomBytes(32)).slice(1), 'not valid base64'],
    ]) {
      expect(() => loadMasterKey({ dataDir: tempDir(), env: { TRIPLINE_MASTER_KEY: value } })).toThrow(
        `TRIPLINE_MASTER_KEY must be base64 of exactly 32 bytes (got ${got}); generate one with: openssl rand -base64 32`,
      );
    }
    expect(() =>
      loadMasterKey({
        dataDir: tempDir(),
        env: { TRIPLINE_MASTER_KEY: b64(randomBytes(32)), TRIPLINE_MASTER_KEY_PREVIOUS: 'short' },
      }),
    ).toThrow(/TRIPLINE_MASTER_KEY_PREVIOUS \(key 1\) must be base64/);
  });

  it('generates <dataDir>/master.key with mode 0600, creating the directory, and reuses it', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const first = loadMasterKey({ dataDir: dir, env: {} });
    const path = join(dir, 'master.key');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(parseMasterKey(readFileSync(path, 'utf8'), path)).toHaveLength(32);
    const again = loadMasterKey({ dataDir: dir, env: {} });
    expect(again.currentKeyId).toBe(first.currentKeyId);
    expect(again.decrypt(first.encrypt('persisted'))).toBe('persisted');
  });

  it('refuses a corrupt key file instead of replacing it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'master.key'), 'garbage');
    expect(() => loadMasterKey({ dataDir: dir, env: {} })).toThrow(
      /master\.key must be base64 of exactly 32 bytes/,
    );
    expect(readFileSync(join(dir, 'master.key'), 'utf8')).toBe('garbage');
  });
});
