import type { Store } from '../store/db.js';

/** The authenticated caller of a tracking command. */
export interface Actor {
  id: string;
  username: string;
}

export type Ctx = Store;
