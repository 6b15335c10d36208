import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import type { Ctx } from './tracking/context.js';
import { countUsers, createUser, findUserByApiKey, generateApiKey, hashApiKey } from './tracking/users.js';
import { isUniqueViolation, newId, now } from './tracking/util.js';

export interface BootstrapResult {
  created: boolean;
  /** Only when the key was generated here: shown once, also written to keyFile. */
  generatedKey?: string;
  keyFile?: string;
}

/**
 * First start: with no users, creates `admin` (and its personal team). The key is
 * TRIPLINE_ADMIN_API_KEY when set, else generated, printed once and written to
 * `<data dir>/admin-api-key` (mode 0600). A set TRIPLINE_ADMIN_API_KEY is always accepted for admin.
 */
export async function bootstrapAdmin(ctx: Ctx, config: Config): Promise<BootstrapResult> {
  if ((await countUsers(ctx)) === 0) {
    const key = config.adminApiKey ?? generateApiKey();
    try {
      await createUser(ctx, 'admin', key);
    } catch (err) {
      // Another process (PostgreSQL, several nodes) created it first.
      if ((err as { status?: number }).status !== 409) throw err;
      return { created: false };
    }
    if (config.adminApiKey) return { created: true };
    const keyFile = join(config.dataDir, 'admin-api-key');
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    return { created: true, generatedKey: key, keyFile };
  }
  if (config.adminApiKey && !(await findUserByApiKey(ctx, config.adminApiKey))) {
    const admin = await ctx.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', 'admin')
      .executeTakeFirst();
    if (admin) {
      try {
        await ctx.db
          .insertInto('api_keys')
          .values({
            id: newId(),
            user_id: admin.id,
            key_hash: hashApiKey(config.adminApiKey),
            prefix: config.adminApiKey.slice(0, 6),
            created_at: now(),
            last_used_at: null,
          })
          .execute();
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
    }
  }
  return { created: false };
}

export { generateApiKey };
