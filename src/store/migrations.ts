import type Database from 'better-sqlite3';
import { ensureStoreKey, keyedHash } from './store-key.ts';

/** The replicas table, the same on both stores (migration 12). */
export const REPLICAS_TABLE = `
  CREATE TABLE replicas (
    process_id TEXT PRIMARY KEY,
    handbook_version TEXT NOT NULL,
    version_since BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
  )`;

/**
 * Migration 13, the same on both stores: a done inbox row keeps no owner (an erase looks only
 * through open rows), so the index on owners, written by every message, goes.
 */
export const INBOX_OPEN_OWNERS = `
  UPDATE inbox SET owner_hash = '' WHERE state = 'done';
  DROP INDEX inbox_owner;
`;

/**
 * Migration 15, the same on both stores: messages and inbox rows are found by age through their ids,
 * which grow with time, so the two indexes by time (each written by every message) go. Retention
 * deletes the oldest messages from the head of the id order; the inbox prunes done keys by receipt,
 * which is what a late redelivery is measured from.
 */
export const AGE_BY_ID = `
  DROP INDEX messages_age;
  DROP INDEX inbox_done;
`;

/**
 * Migration 16, the same on both stores: the open-item indexes are partial on `finished_at IS NULL`
 * (set once, when the item is done) instead of on the state. A database updates a partial index
 * whenever a column its condition names is written, and taking an item writes its state: the lane
 * index (ordered by conversation, so a page anywhere) was written once more for every message.
 */
export const OPEN_UNTIL_FINISHED = `
  UPDATE inbox SET finished_at = received_at WHERE state = 'done' AND finished_at IS NULL;
  DROP INDEX inbox_open;
  DROP INDEX inbox_open_lane;
  CREATE INDEX inbox_open ON inbox (id) WHERE finished_at IS NULL;
  CREATE INDEX inbox_open_lane ON inbox (lane_key, ord, id) WHERE finished_at IS NULL;
`;

/** A numbered schema change; applied once, in order, inside the start-up transaction. Never edit a shipped one. */
export interface Migration {
  version: number;
  name: string;
  up(db: Database.Database): void;
  /**
   * It rebuilds a table others refer to (SQLite's way to change a table's keys): foreign keys are
   * off while it runs (a dropped table would take the rows that refer to it along), and checked before its commit.
   */
  rebuildsTables?: boolean;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'core',
    up(db) {
      db.exec(`
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        -- One row per (verified user, place, thread). The key is derived from the platform's verified
        -- identity, so an id arriving in a payload can never name another user's conversation.
        CREATE TABLE conversations (
          conversation_key TEXT PRIMARY KEY,
          owner_key TEXT NOT NULL,
          platform TEXT NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN ('dm', 'channel', 'group')),
          next_seq INTEGER NOT NULL DEFAULT 1,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE INDEX conversations_owner ON conversations (owner_key);

        -- Append-only: rows are inserted with the conversation's next sequence number and never updated.
        CREATE TABLE messages (
          id INTEGER PRIMARY KEY,
          conversation_key TEXT NOT NULL REFERENCES conversations (conversation_key) ON DELETE CASCADE,
          owner_key TEXT NOT NULL,
          seq INTEGER NOT NULL,
          role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
          command TEXT,
          text TEXT NOT NULL,
          answer_id TEXT UNIQUE,
          answer_kind TEXT,
          sources TEXT,
          created_at INTEGER NOT NULL,
          UNIQUE (conversation_key, seq)
        );
        CREATE INDEX messages_owner ON messages (owner_key, created_at);

        CREATE TABLE feedback (
          answer_id TEXT PRIMARY KEY REFERENCES messages (answer_id) ON DELETE CASCADE,
          owner_key TEXT NOT NULL,
          rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
          created_at INTEGER NOT NULL
        );
        CREATE INDEX feedback_owner ON feedback (owner_key);

        CREATE TABLE usage_daily (
          owner_key TEXT NOT NULL,
          tenant_key TEXT NOT NULL,
          day TEXT NOT NULL,
          questions INTEGER NOT NULL DEFAULT 0,
          input_tokens INTEGER NOT NULL DEFAULT 0,
          output_tokens INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (owner_key, day)
        );
        CREATE INDEX usage_daily_tenant ON usage_daily (tenant_key, day);

        CREATE TABLE rate_windows (
          owner_key TEXT PRIMARY KEY,
          window_start INTEGER NOT NULL,
          count INTEGER NOT NULL
        );

        -- Platform event ids seen, so a redelivered event is processed at most once.
        CREATE TABLE processed_events (
          event_key TEXT PRIMARY KEY,
          state TEXT NOT NULL CHECK (state IN ('processing', 'done')),
          claimed_at INTEGER NOT NULL,
          finished_at INTEGER
        );
        CREATE INDEX processed_events_claimed ON processed_events (claimed_at);
      `);
    },
  },
  {
    version: 2,
    name: 'handbook-index',
    up(db) {
      // Derived from KNOWLEDGE_DIR and rebuilt when a file's hash changes.
      db.exec(`
        CREATE TABLE handbook_files (
          path TEXT PRIMARY KEY,
          sha256 TEXT NOT NULL,
          title TEXT NOT NULL,
          indexed_at INTEGER NOT NULL
        );
        CREATE TABLE handbook_sections (
          id INTEGER PRIMARY KEY,
          path TEXT NOT NULL REFERENCES handbook_files (path) ON DELETE CASCADE,
          ord INTEGER NOT NULL,
          title TEXT NOT NULL,
          heading TEXT NOT NULL,
          heading_path TEXT NOT NULL,
          anchor TEXT NOT NULL,
          body TEXT NOT NULL
        );
        CREATE INDEX handbook_sections_path ON handbook_sections (path, ord);
        CREATE VIRTUAL TABLE handbook_fts USING fts5 (
          title, heading, body,
          content = 'handbook_sections', content_rowid = 'id',
          tokenize = 'porter unicode61 remove_diacritics 2'
        );
      `);
    },
  },
  {
    version: 3,
    name: 'answer-cache',
    up(db) {
      // Validated LLM answers shared between users. The key is a hash (question, handbook version, model,
      // prompt version), so a re-indexed handbook never serves an old answer. origin_owner_key names the
      // user whose question produced the row, so /hr forget can erase what derives from their questions.
      db.exec(`
        CREATE TABLE answer_cache (
          cache_key TEXT PRIMARY KEY,
          payload TEXT NOT NULL,
          checksum TEXT NOT NULL,
          origin_owner_key TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE INDEX answer_cache_owner ON answer_cache (origin_owner_key);
        CREATE INDEX answer_cache_age ON answer_cache (created_at);
      `);
    },
  },
  {
    version: 4,
    name: 'privacy',
    up(db) {
      // The key for hashing identifiers that must be matched again but not read (see store-key.ts).
      ensureStoreKey(db);
      // Event keys were platform ids (Teams chat ids, Slack timestamps) readable after an erase: keep a keyed hash instead.
      const raw = db.prepare('SELECT event_key FROM processed_events').pluck().all() as string[];
      const rehash = db.prepare('UPDATE processed_events SET event_key = ? WHERE event_key = ?');
      for (const key of raw) rehash.run(keyedHash(db, key), key);
      db.exec(`
        -- One row per erased user (keyed hash of the owner key): writes of a turn that began before the
        -- erase see a newer seq and are dropped. seq comes from the meta counter 'erasure_seq', so it only
        -- grows, and a row may be pruned once no turn that began before it can still be running.
        CREATE TABLE erasures (
          owner_hash TEXT PRIMARY KEY,
          seq INTEGER NOT NULL,
          erased_at INTEGER NOT NULL
        );
        CREATE INDEX erasures_age ON erasures (erased_at);

        -- For retention and pruning: each sweep deletes the oldest rows in short batches.
        CREATE INDEX messages_age ON messages (created_at);
        CREATE INDEX feedback_age ON feedback (created_at);
        CREATE INDEX conversations_age ON conversations (updated_at);
        CREATE INDEX usage_daily_day ON usage_daily (day);
        CREATE INDEX rate_windows_age ON rate_windows (window_start);
      `);
    },
  },
  {
    version: 5,
    name: 'inbox',
    up(db) {
      // The durable inbox: every verified platform event is a row before its ack. Open rows (pending,
      // working) carry the payload; done rows keep only the keyed hash of the event key, to make a
      // redelivery a no-op. The owner is a keyed hash too, so an erasure finds the rows.
      db.exec(`
        CREATE TABLE inbox (
          id INTEGER PRIMARY KEY,
          event_hash TEXT NOT NULL UNIQUE,
          platform TEXT NOT NULL,
          lane_key TEXT NOT NULL,
          owner_hash TEXT NOT NULL,
          ord REAL NOT NULL,
          payload TEXT,
          bytes INTEGER NOT NULL DEFAULT 0,
          state TEXT NOT NULL CHECK (state IN ('pending', 'working', 'done')),
          attempts INTEGER NOT NULL DEFAULT 0,
          lease_until INTEGER NOT NULL DEFAULT 0,
          -- host:pid of the process working on it, so a restart on the same host takes up a dead one's items at once.
          worker TEXT,
          progress TEXT,
          received_at INTEGER NOT NULL,
          finished_at INTEGER
        );
        CREATE INDEX inbox_open ON inbox (id) WHERE state <> 'done';
        CREATE INDEX inbox_open_lane ON inbox (lane_key, ord, id) WHERE state <> 'done';
        CREATE INDEX inbox_owner ON inbox (owner_hash);
        CREATE INDEX inbox_done ON inbox (finished_at) WHERE state = 'done';
      `);
    },
  },
  {
    version: 6,
    name: 'handbook-passages',
    up(db) {
      // The handbook is searched by passages of a few hundred words instead of whole sections. The
      // index is derived data: the old tables go, and emptying handbook_files makes the next refresh
      // index every file again. The FTS table holds stems the code computed (the same code stems the
      // questions), so it is contentless; *_terms keep the stems per field for scoring.
      db.exec(`
        DROP TABLE handbook_fts;
        DROP TABLE handbook_sections;
        DELETE FROM handbook_files;
        CREATE TABLE handbook_passages (
          id INTEGER PRIMARY KEY,
          path TEXT NOT NULL REFERENCES handbook_files (path) ON DELETE CASCADE,
          ord INTEGER NOT NULL,
          section INTEGER NOT NULL,
          part INTEGER NOT NULL,
          parts INTEGER NOT NULL,
          title TEXT NOT NULL,
          heading TEXT NOT NULL,
          heading_path TEXT NOT NULL,
          anchor TEXT NOT NULL,
          body TEXT NOT NULL,
          title_terms TEXT NOT NULL,
          path_terms TEXT NOT NULL,
          heading_terms TEXT NOT NULL,
          body_terms TEXT NOT NULL
        );
        CREATE INDEX handbook_passages_path ON handbook_passages (path, ord);
        CREATE VIRTUAL TABLE handbook_passage_fts USING fts5 (
          title, path, heading, body,
          content = '', contentless_delete = 1,
          tokenize = 'unicode61 remove_diacritics 0'
        );
      `);
    },
  },
  {
    version: 7,
    name: 'inbox-totals',
    up(db) {
      // The inbox's open counts, kept by triggers in one row: every ack reads them (bounds, notices),
      // and counting open rows there cost a scan per event, across every process writing the file.
      db.exec(`
        CREATE TABLE inbox_totals (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          open_items INTEGER NOT NULL,
          open_bytes INTEGER NOT NULL,
          pending INTEGER NOT NULL
        );
        INSERT INTO inbox_totals (id, open_items, open_bytes, pending)
          SELECT 1, count(*), coalesce(sum(bytes), 0), coalesce(sum(state = 'pending'), 0) FROM inbox WHERE state <> 'done';
        CREATE TRIGGER inbox_totals_insert AFTER INSERT ON inbox BEGIN
          UPDATE inbox_totals SET
            open_items = open_items + (NEW.state <> 'done'),
            open_bytes = open_bytes + (CASE WHEN NEW.state <> 'done' THEN NEW.bytes ELSE 0 END),
            pending = pending + (NEW.state = 'pending');
        END;
        CREATE TRIGGER inbox_totals_update AFTER UPDATE OF state, bytes ON inbox BEGIN
          UPDATE inbox_totals SET
            open_items = open_items + (NEW.state <> 'done') - (OLD.state <> 'done'),
            open_bytes = open_bytes + (CASE WHEN NEW.state <> 'done' THEN NEW.bytes ELSE 0 END)
                                    - (CASE WHEN OLD.state <> 'done' THEN OLD.bytes ELSE 0 END),
            pending = pending + (NEW.state = 'pending') - (OLD.state = 'pending');
        END;
        CREATE TRIGGER inbox_totals_delete AFTER DELETE ON inbox BEGIN
          UPDATE inbox_totals SET
            open_items = open_items - (OLD.state <> 'done'),
            open_bytes = open_bytes - (CASE WHEN OLD.state <> 'done' THEN OLD.bytes ELSE 0 END),
            pending = pending - (OLD.state = 'pending');
        END;
      `);
    },
  },
  {
    version: 8,
    name: 'installations',
    up(db) {
      // One row per installation of the app when it is installed through OAuth (Slack: a workspace, or
      // an Enterprise Grid org for an org-wide install), keyed 'team:<id>' or 'enterprise:<id>'. The bot
      // token is sealed by SecretBox (AES-256-GCM under HRBOT_ENCRYPTION_KEY); the ids beside it are
      // what events are matched on. Uninstalling deletes the row.
      db.exec(`
        CREATE TABLE installations (
          platform TEXT NOT NULL,
          install_key TEXT NOT NULL,
          team_id TEXT,
          enterprise_id TEXT,
          is_enterprise_install INTEGER NOT NULL CHECK (is_enterprise_install IN (0, 1)),
          app_id TEXT,
          bot_user_id TEXT NOT NULL,
          bot_id TEXT,
          scopes TEXT NOT NULL,
          bot_token_sealed TEXT NOT NULL,
          installed_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (platform, install_key)
        );
      `);
    },
  },
  {
    version: 9,
    name: 'feedback-comment',
    up(db) {
      // What a user said was wrong with an answer they rated down (the Slack feedback modal): a reason
      // from a fixed list and free text, bounded here as well as in the form. Both live on the feedback
      // row, so whatever erases or ages out the rating (erasure, RETENTION_DAYS, the answer's own
      // deletion through ON DELETE CASCADE) takes the text with it.
      db.exec(`
        ALTER TABLE feedback ADD COLUMN reason TEXT CHECK (reason IS NULL OR length(reason) <= 40);
        ALTER TABLE feedback ADD COLUMN comment TEXT CHECK (comment IS NULL OR length(comment) <= 2000);
      `);
    },
  },
  {
    version: 10,
    name: 'handbook-passage-embeddings',
    up(db) {
      // Dense vectors of handbook passages, for hybrid search when AI is on. Keyed by the hash of the
      // text embedded and the model, not by passage id: a re-index gives passages new ids, but an
      // unchanged passage keeps its vector, so only what changed is embedded again. Vectors of
      // passages that no longer exist, or of another model, are pruned after each embedding pass.
      db.exec(`
        CREATE TABLE handbook_embeddings (
          content_hash TEXT NOT NULL,
          model TEXT NOT NULL,
          dimensions INTEGER NOT NULL,
          vector BLOB NOT NULL,
          created_at INTEGER NOT NULL,
          PRIMARY KEY (content_hash, model)
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 11,
    name: 'inbox-admitted',
    up(db) {
      // Whether a message was counted against its user's rate limit and daily quota, set in the
      // counting transaction: a retry after a crash (on any process) does not count it again.
      db.exec('ALTER TABLE inbox ADD COLUMN admitted INTEGER NOT NULL DEFAULT 0');
    },
  },
  {
    version: 12,
    name: 'replicas',
    up(db) {
      // Each serving process's handbook version, refreshed every few seconds, so /readyz can say when
      // the processes sharing this store do not answer from the same handbook.
      db.exec(REPLICAS_TABLE);
    },
  },
  {
    version: 13,
    name: 'inbox-open-owners',
    up(db) {
      db.exec(INBOX_OPEN_OWNERS);
    },
  },
  {
    version: 14,
    name: 'messages-by-place',
    rebuildsTables: true,
    up(db) {
      // A conversation is its owner's messages under one key: the conversations row (and its three
      // indexes, each written by every answered message) goes, and one index ordered by owner,
      // conversation and place serves every read by conversation or by owner. SQLite changes a
      // table's keys by copying it into a new one.
      db.exec(`
        CREATE TABLE messages_by_place (
          id INTEGER PRIMARY KEY,
          conversation_key TEXT NOT NULL,
          owner_key TEXT NOT NULL,
          seq INTEGER NOT NULL,
          role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
          command TEXT,
          text TEXT NOT NULL,
          answer_id TEXT UNIQUE,
          answer_kind TEXT,
          sources TEXT,
          created_at INTEGER NOT NULL,
          UNIQUE (owner_key, conversation_key, seq)
        );
        INSERT INTO messages_by_place (id, conversation_key, owner_key, seq, role, command, text, answer_id, answer_kind, sources, created_at)
          SELECT id, conversation_key, owner_key, seq, role, command, text, answer_id, answer_kind, sources, created_at FROM messages;
        DROP TABLE messages;
        ALTER TABLE messages_by_place RENAME TO messages;
        CREATE INDEX messages_age ON messages (created_at);
        DROP TABLE conversations;
      `);
    },
  },
  {
    version: 15,
    name: 'age-by-id',
    up(db) {
      db.exec(AGE_BY_ID);
    },
  },
  {
    version: 16,
    name: 'open-until-finished',
    up(db) {
      db.exec(OPEN_UNTIL_FINISHED);
    },
  },
];
