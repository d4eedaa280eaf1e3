import type { SecretBox } from '../secret-box.ts';
import type { Db } from './database.ts';
import { writeTransaction } from './database.ts';

/** One installation of the app, as stored: a workspace (team) or, for an org-wide install, an org (enterprise). */
export interface Installation {
  teamId?: string;
  enterpriseId?: string;
  /** Installed on a whole Enterprise Grid org: found by enterpriseId for every workspace of the org. */
  isEnterpriseInstall: boolean;
  appId?: string;
  /** The bot's user id in this installation (it differs per workspace): events by it are the bot's own. */
  botUserId: string;
  botId?: string;
  scopes: readonly string[];
  /** The bot token in clear; stored sealed. */
  botToken: string;
}

/** Which installation an event belongs to. */
export interface InstallationQuery {
  teamId?: string | undefined;
  enterpriseId?: string | undefined;
  /** Set on events of an org-wide install: match the org's row only. */
  isEnterpriseInstall?: boolean | undefined;
}

/** How many installations there are, and how many were sealed under another key (unreadable until it is restored). */
export interface InstallationCensus {
  installations: number;
  otherKey: number;
}

/**
 * Installations of the app (one per workspace or org) in the project's own store, on either engine,
 * with each bot token sealed by a {@link SecretBox} bound to its row, so a token copied to another row
 * does not open.
 */
export interface InstallationStore {
  /**
   * Store an installation, replacing an earlier one of the same workspace or org (a reinstall, new
   * scopes, a new token). Rejects with TypeError when it has neither the id it is keyed by.
   */
  save(installation: Installation): Promise<void>;
  /**
   * The installation that serves `query`: an org-wide install's event matches its org; any other the
   * workspace's own installation, else the org-wide one of its org. Undefined when none. Rejects with
   * SecretBoxError when its token was sealed under another HRBOT_ENCRYPTION_KEY (its message says what
   * to do) or does not belong to its row.
   */
  find(query: InstallationQuery): Promise<Installation | undefined>;
  /** Erase what Slack revoked: the org's row for an org-wide install, else the workspace's. Resolves with how many rows went. */
  delete(query: InstallationQuery): Promise<number>;
  census(): Promise<InstallationCensus>;
}

/** A stored row, as both engines return it. */
export interface InstallationRow {
  install_key: string;
  team_id: string | null;
  enterprise_id: string | null;
  is_enterprise_install: number;
  app_id: string | null;
  bot_user_id: string;
  bot_id: string | null;
  scopes: string;
  bot_token_sealed: string;
}

/**
 * The installation statements, one text for both engines (`?` placeholders, numbered for PostgreSQL).
 * The upsert names the table in DO UPDATE, as PostgreSQL requires and SQLite allows.
 */
export const INSTALLATION_SQL = {
  // Both candidate keys in one lookup (one round trip on PostgreSQL); the caller picks by preference.
  find: `SELECT install_key, team_id, enterprise_id, is_enterprise_install, app_id, bot_user_id, bot_id, scopes, bot_token_sealed
    FROM installations WHERE platform = ? AND install_key IN (?, ?)`,
  save: `INSERT INTO installations (platform, install_key, team_id, enterprise_id, is_enterprise_install, app_id, bot_user_id, bot_id, scopes, bot_token_sealed, installed_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (platform, install_key) DO UPDATE SET
      team_id = excluded.team_id, enterprise_id = excluded.enterprise_id, is_enterprise_install = excluded.is_enterprise_install,
      app_id = excluded.app_id, bot_user_id = excluded.bot_user_id, bot_id = excluded.bot_id, scopes = excluded.scopes,
      bot_token_sealed = excluded.bot_token_sealed, updated_at = excluded.updated_at`,
  delete: 'DELETE FROM installations WHERE platform = ? AND install_key = ?',
  sealedTokens: 'SELECT bot_token_sealed FROM installations WHERE platform = ?',
} as const;

/**
 * {@link InstallationStore} on SQLite. Asynchronous for the interface only: the work is done before
 * the promise returns, and a failure (a store error, a token that does not open) is its rejection.
 */
export class SqliteInstallationStore implements InstallationStore {
  readonly #db: Db;
  readonly #box: SecretBox;
  readonly #platform: string;
  /** Prepared once: every event and every reply looks its workspace up. */
  readonly #sql: ReturnType<typeof prepareInstallations>;

  constructor(db: Db, box: SecretBox, platform: string) {
    this.#db = db;
    this.#box = box;
    this.#platform = platform;
    this.#sql = prepareInstallations(db);
  }

  save(installation: Installation): Promise<void> {
    return settle(() => {
      const params = saveParams(this.#box, this.#platform, installation, Date.now());
      writeTransaction(this.#db, () => this.#sql.save.run(...params));
    });
  }

  find(query: InstallationQuery): Promise<Installation | undefined> {
    return settle(() => {
      const keys = candidateKeys(query);
      if (keys.length === 0) return undefined;
      return preferred(this.#box, this.#platform, keys, this.#sql.find.all(this.#platform, keys[0]!, keys[1] ?? keys[0]!));
    });
  }

  delete(query: InstallationQuery): Promise<number> {
    return settle(() => {
      const key = deleteKey(query);
      if (key === undefined) return 0;
      // secure_delete (see database.ts) zeroes the row's bytes in the file.
      return writeTransaction(this.#db, () => this.#sql.delete.run(this.#platform, key).changes);
    });
  }

  census(): Promise<InstallationCensus> {
    return settle(() => countSealed(this.#box, this.#sql.sealedTokens.all(this.#platform)));
  }
}

function prepareInstallations(db: Db) {
  return {
    find: db.prepare<[string, string, string], InstallationRow>(INSTALLATION_SQL.find),
    save: db.prepare<SaveParams>(INSTALLATION_SQL.save),
    delete: db.prepare<[string, string]>(INSTALLATION_SQL.delete),
    sealedTokens: db.prepare<[string], string>(INSTALLATION_SQL.sealedTokens).pluck(),
  };
}

/** `fn`'s result as a promise, and what it throws as the rejection. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

/** The parameters of {@link INSTALLATION_SQL.save}, in its order. */
export type SaveParams = [
  platform: string,
  installKey: string,
  teamId: string | null,
  enterpriseId: string | null,
  isEnterpriseInstall: 0 | 1,
  appId: string | null,
  botUserId: string,
  botId: string | null,
  scopes: string,
  botTokenSealed: string,
  installedAt: number,
  updatedAt: number,
];

/** The row `installation` is stored as, its token sealed to that row. Throws TypeError when it has no key. */
export function saveParams(box: SecretBox, platform: string, installation: Installation, now: number): SaveParams {
  const key = installKey(installation);
  if (key === undefined) throw new TypeError('an installation needs its team id, or its enterprise id when org-wide');
  return [
    platform,
    key,
    installation.teamId ?? null,
    installation.enterpriseId ?? null,
    installation.isEnterpriseInstall ? 1 : 0,
    installation.appId ?? null,
    installation.botUserId,
    installation.botId ?? null,
    installation.scopes.join(','),
    box.seal(installation.botToken, sealContext(platform, key)),
    now,
    now,
  ];
}

/** The keys that may serve `query`, the preferred first: at most two, as {@link INSTALLATION_SQL.find} takes. */
export function candidateKeys(query: InstallationQuery): string[] {
  if (query.isEnterpriseInstall === true) return [prefixed('enterprise', query.enterpriseId)].filter((key) => key !== undefined);
  return [prefixed('team', query.teamId), prefixed('enterprise', query.enterpriseId)].filter((key) => key !== undefined);
}

/** The one row a revocation for `query` concerns. */
export function deleteKey(query: InstallationQuery): string | undefined {
  return query.isEnterpriseInstall === true ? prefixed('enterprise', query.enterpriseId) : prefixed('team', query.teamId);
}

/** Of the rows found for `keys`, the installation of the first key that has one (its token opened). */
export function preferred(box: SecretBox, platform: string, keys: readonly string[], rows: readonly InstallationRow[]): Installation | undefined {
  for (const key of keys) {
    const row = rows.find((candidate) => candidate.install_key === key);
    if (row !== undefined) return toInstallation(box, platform, row);
  }
  return undefined;
}

export function countSealed(box: SecretBox, sealed: readonly string[]): InstallationCensus {
  return { installations: sealed.length, otherKey: sealed.filter((value) => !box.isOwnKey(value)).length };
}

function toInstallation(box: SecretBox, platform: string, row: InstallationRow): Installation {
  return {
    ...(row.team_id === null ? {} : { teamId: row.team_id }),
    ...(row.enterprise_id === null ? {} : { enterpriseId: row.enterprise_id }),
    isEnterpriseInstall: row.is_enterprise_install === 1,
    ...(row.app_id === null ? {} : { appId: row.app_id }),
    botUserId: row.bot_user_id,
    ...(row.bot_id === null ? {} : { botId: row.bot_id }),
    scopes: row.scopes === '' ? [] : row.scopes.split(','),
    botToken: box.open(row.bot_token_sealed, sealContext(platform, row.install_key)),
  };
}

/** What a sealed token is bound to: its platform and row. */
function sealContext(platform: string, key: string): string {
  return `installations:${platform}:${key}`;
}

function installKey(installation: Pick<Installation, 'teamId' | 'enterpriseId' | 'isEnterpriseInstall'>): string | undefined {
  return installation.isEnterpriseInstall ? prefixed('enterprise', installation.enterpriseId) : prefixed('team', installation.teamId);
}

function prefixed(kind: 'team' | 'enterprise', id: string | undefined): string | undefined {
  return id === undefined || id === '' ? undefined : `${kind}:${id}`;
}
