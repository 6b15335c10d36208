import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.js';
import type { Keyring } from './crypto.js';

/**
 * The AAD bound into each secret's ciphertext: a value copied into another team's row, or under
 * another name, fails to decrypt instead of leaking.
 */
export const secretContext = (teamId: string, name: string): string => `secret:${teamId}:${name}`;

/** Decrypts the named secrets of one team; names that do not exist are absent from the result. */
export async function resolveSecrets(
  db: Kysely<DB>,
  keyring: Keyring,
  teamId: string,
  names: string[],
): Promise<Record<string, string>> {
  const wanted = [...new Set(names.filter(Boolean))];
  if (wanted.length === 0) return {};
  const rows = await db
    .selectFrom('secrets')
    .select(['name', 'ciphertext'])
    .where('team_id', '=', teamId)
    .where('name', 'in', wanted)
    .execute();
  const out: Record<string, string> = {};
  for (const r of rows) out[r.name] = keyring.decrypt(r.ciphertext, secretContext(teamId, r.name));
  return out;
}
