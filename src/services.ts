import type { Config } from './config.js';
import type { Keyring } from './secrets/crypto.js';
import type { Store } from './store/db.js';

/** What the API and workers share beyond the database: the secrets keyring and the configuration. */
export interface Services {
  store: Store;
  keyring: Keyring;
  config: Config;
}
