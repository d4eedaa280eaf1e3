import type Database from 'better-sqlite3';
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

interface Row {
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
 * Installations of the app (one per workspace or org) in the project's own store, with each bot token
 * sealed by a {@link SecretBox} bound to its row, so a token copied to another row does not open.
 * Reading a token under another HRBOT_ENCRYPTION_KEY throws SecretBoxError (its message says what to do).
 */
export class InstallationStore {
  readonly #db: Db;
  readonly #box: SecretBox;
  readonly #platform: string;
  /** Prepared once: every event and every reply looks its workspace up. */
  readonly #select: Database.Statement<[string, string], Row>;

  constructor(db: Db, box: SecretBox, platform: string) {
    this.#db = db;
    this.#box = box;
    this.#platform = platform;
    this.#select = db.prepare<[string, string], Row>(
      'SELECT team_id, enterprise_id, is_enterprise_install, app_id, bot_user_id, bot_id, scopes, bot_token_sealed FROM installations WHERE platform = ? AND install_key = ?',
    );
  }

  /** Store an installation, replacing an earlier one of the same workspace or org (a reinstall, new scopes, a new token). */
  save(installation: Installation): void {
    const key = installKey(installation);
    if (key === undefined) throw new TypeError('an installation needs its team id, or its enterprise id when org-wide');
    const now = Date.now();
    writeTransaction(this.#db, () =>
      this.#db
        .prepare(
          `INSERT INTO installations (platform, install_key, team_id, enterprise_id, is_enterprise_install, app_id, bot_user_id, bot_id, scopes, bot_token_sealed, installed_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (platform, install_key) DO UPDATE SET
             team_id = excluded.team_id, enterprise_id = excluded.enterprise_id, is_enterprise_install = excluded.is_enterprise_install,
             app_id = excluded.app_id, bot_user_id = excluded.bot_user_id, bot_id = excluded.bot_id, scopes = excluded.scopes,
             bot_token_sealed = excluded.bot_token_sealed, updated_at = excluded.updated_at`,
        )
        .run(
          this.#platform,
          key,
          installation.teamId ?? null,
          installation.enterpriseId ?? null,
          installation.isEnterpriseInstall ? 1 : 0,
          installation.appId ?? null,
          installation.botUserId,
          installation.botId ?? null,
          installation.scopes.join(','),
          this.#box.seal(installation.botToken, this.#context(key)),
          now,
          now,
        ),
    );
  }

  /**
   * The installation that serves `query`: an org-wide install's event matches its org; any other the
   * workspace's own installation, else the org-wide one of its org. Undefined when none.
   */
  find(query: InstallationQuery): Installation | undefined {
    for (const key of candidateKeys(query)) {
      const row = this.#select.get(this.#platform, key);
      if (row !== undefined) return this.#toInstallation(key, row);
    }
    return undefined;
  }

  /**
   * Erase what Slack revoked: the org's row for an org-wide install, else the workspace's. The row is
   * deleted (secure_delete zeroes it in the file). Returns how many rows went.
   */
  delete(query: InstallationQuery): number {
    const key = query.isEnterpriseInstall === true ? prefixed('enterprise', query.enterpriseId) : prefixed('team', query.teamId);
    if (key === undefined) return 0;
    return writeTransaction(this.#db, () => this.#db.prepare('DELETE FROM installations WHERE platform = ? AND install_key = ?').run(this.#platform, key).changes);
  }

  /** How many installations there are, and how many were sealed under another key (unreadable until it is restored). */
  census(): { installations: number; otherKey: number } {
    const sealed = this.#db.prepare('SELECT bot_token_sealed FROM installations WHERE platform = ?').pluck().all(this.#platform) as string[];
    return { installations: sealed.length, otherKey: sealed.filter((value) => !this.#box.isOwnKey(value)).length };
  }

  #toInstallation(key: string, row: Row): Installation {
    return {
      ...(row.team_id === null ? {} : { teamId: row.team_id }),
      ...(row.enterprise_id === null ? {} : { enterpriseId: row.enterprise_id }),
      isEnterpriseInstall: row.is_enterprise_install === 1,
      ...(row.app_id === null ? {} : { appId: row.app_id }),
      botUserId: row.bot_user_id,
      ...(row.bot_id === null ? {} : { botId: row.bot_id }),
      scopes: row.scopes === '' ? [] : row.scopes.split(','),
      botToken: this.#box.open(row.bot_token_sealed, this.#context(key)),
    };
  }

  /** What a sealed token is bound to: its platform and row. */
  #context(key: string): string {
    return `installations:${this.#platform}:${key}`;
  }
}

function installKey(installation: Pick<Installation, 'teamId' | 'enterpriseId' | 'isEnterpriseInstall'>): string | undefined {
  return installation.isEnterpriseInstall ? prefixed('enterprise', installation.enterpriseId) : prefixed('team', installation.teamId);
}

function candidateKeys(query: InstallationQuery): string[] {
  if (query.isEnterpriseInstall === true) return [prefixed('enterprise', query.enterpriseId)].filter((key) => key !== undefined);
  return [prefixed('team', query.teamId), prefixed('enterprise', query.enterpriseId)].filter((key) => key !== undefined);
}

function prefixed(kind: 'team' | 'enterprise', id: string | undefined): string | undefined {
  return id === undefined || id === '' ? undefined : `${kind}:${id}`;
}
