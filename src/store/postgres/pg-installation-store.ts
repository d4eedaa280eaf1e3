import type { SecretBox } from '../../secret-box.ts';
import type { Installation, InstallationCensus, InstallationQuery, InstallationRow, InstallationStore } from '../installation-store.ts';
import { candidateKeys, countSealed, deleteKey, INSTALLATION_SQL, preferred, saveParams } from '../installation-store.ts';
import { numberedParams } from '../sql-params.ts';
import type { PgPool } from './pg-database.ts';

/** The installation statements in PostgreSQL's placeholders. */
const SQL = Object.fromEntries(Object.entries(INSTALLATION_SQL).map(([name, text]) => [name, numberedParams(text)])) as Record<
  keyof typeof INSTALLATION_SQL,
  string
>;

/**
 * {@link InstallationStore} on PostgreSQL, shared by every replica: an install finished on one is
 * served by all. Each method is one statement (the upsert included), so none needs a transaction.
 * A deleted row stays in the table's pages until VACUUM reclaims them; its token is sealed there.
 */
export class PgInstallationStore implements InstallationStore {
  readonly #pool: PgPool;
  readonly #box: SecretBox;
  readonly #platform: string;

  constructor(pool: PgPool, box: SecretBox, platform: string) {
    this.#pool = pool;
    this.#box = box;
    this.#platform = platform;
  }

  async save(installation: Installation): Promise<void> {
    await this.#pool.query(SQL.save, saveParams(this.#box, this.#platform, installation, Date.now()));
  }

  async find(query: InstallationQuery): Promise<Installation | undefined> {
    const keys = candidateKeys(query);
    if (keys.length === 0) return undefined;
    const { rows } = await this.#pool.query<InstallationRow>(SQL.find, [this.#platform, keys[0], keys[1] ?? keys[0]]);
    return preferred(this.#box, this.#platform, keys, rows);
  }

  async delete(query: InstallationQuery): Promise<number> {
    const key = deleteKey(query);
    if (key === undefined) return 0;
    return (await this.#pool.query(SQL.delete, [this.#platform, key])).rowCount ?? 0;
  }

  async census(): Promise<InstallationCensus> {
    const { rows } = await this.#pool.query<{ bot_token_sealed: string }>(SQL.sealedTokens, [this.#platform]);
    return countSealed(this.#box, rows.map((row) => row.bot_token_sealed));
  }
}
