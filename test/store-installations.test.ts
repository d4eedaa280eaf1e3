// The installation store's contract, on SQLite and on PostgreSQL alike: an installation is found by
// its workspace, or by its org when installed org-wide; a reinstall replaces it; an uninstall deletes
// it; a token opens only under its key and in its own row; replicas see each other's installs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SecretBox, SecretBoxError } from '../src/secret-box.ts';
import type { Installation, InstallationStore } from '../src/store/installation-store.ts';
import { SqliteInstallationStore } from '../src/store/installation-store.ts';
import { PgInstallationStore } from '../src/store/postgres/pg-installation-store.ts';
import { STORE_ENGINES, withStore } from './support/store-engines.ts';
import type { StoreReplica } from './support/store-engines.ts';

const BOX = new SecretBox(randomBytes(32).toString('base64'));


function installationsOn(replica: StoreReplica, box = BOX, platform = 'slack'): InstallationStore {
  const raw = replica.raw;
  return raw.engine === 'sqlite' ? new SqliteInstallationStore(raw.db, box, platform) : new PgInstallationStore(raw.pool, box, platform);
}

function workspace(teamId: string, token: string, extra: Partial<Installation> = {}): Installation {
  return { teamId, isEnterpriseInstall: false, botUserId: `U_${teamId}`, scopes: ['chat:write'], botToken: token, ...extra };
}

function org(enterpriseId: string, token: string): Installation {
  return { enterpriseId, isEnterpriseInstall: true, botUserId: `U_${enterpriseId}`, scopes: ['chat:write'], botToken: token };
}

function refused(code: SecretBoxError['code']) {
  return (error: unknown) => error instanceof SecretBoxError && error.code === code;
}

for (const engine of STORE_ENGINES) {
  void describe(`installation store on ${engine.name}`, () => {
    void it('saves an installation and finds it by its workspace, the token sealed at rest', () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        const installations = installationsOn(replica);
        const saved: Installation = {
          teamId: 'T1',
          enterpriseId: 'E1',
          isEnterpriseInstall: false,
          appId: 'A1',
          botUserId: 'U_BOT',
          botId: 'B1',
          scopes: ['app_mentions:read', 'chat:write'],
          botToken: 'xoxb-t1-secret',
        };
        await installations.save(saved);
        assert.deepEqual(await installations.find({ teamId: 'T1' }), saved);
        // Optional fields left out come back left out, and no scopes as none.
        await installations.save({ teamId: 'T2', isEnterpriseInstall: false, botUserId: 'U2', scopes: [], botToken: 'xoxb-t2' });
        assert.deepEqual(await installations.find({ teamId: 'T2' }), { teamId: 'T2', isEnterpriseInstall: false, botUserId: 'U2', scopes: [], botToken: 'xoxb-t2' });
        assert.equal(await installations.find({ teamId: 'T3' }), undefined);
        assert.equal(await installations.find({}), undefined, 'an event naming no workspace');
        const sealed = await replica.query<{ bot_token_sealed: string }>("SELECT bot_token_sealed FROM installations WHERE install_key = 'team:T1'");
        assert.equal(sealed.length, 1);
        assert.ok(!sealed[0]!.bot_token_sealed.includes('xoxb'), 'the token is not stored in clear');
        // Another platform's installations are its own.
        assert.equal(await installationsOn(replica, BOX, 'teams').find({ teamId: 'T1' }), undefined);
      }));

    void it("finds an org-wide install for every workspace of its org; a workspace's own install comes first", () =>
      withStore(engine, async (store) => {
        const installations = installationsOn(await store.replica());
        await installations.save(org('E1', 'xoxb-e1'));
        await installations.save(workspace('T2', 'xoxb-t2', { enterpriseId: 'E1' }));
        assert.equal((await installations.find({ teamId: 'T3', enterpriseId: 'E1' }))?.botToken, 'xoxb-e1', 'a workspace of the org without its own');
        assert.equal((await installations.find({ teamId: 'T2', enterpriseId: 'E1' }))?.botToken, 'xoxb-t2', 'its own install wins');
        assert.equal((await installations.find({ teamId: 'T2', enterpriseId: 'E1', isEnterpriseInstall: true }))?.botToken, 'xoxb-e1', "an org-wide event matches the org's row only");
        assert.equal(await installations.find({ teamId: 'T3' }), undefined, 'outside any org');
        assert.equal(await installations.find({ teamId: 'T2', isEnterpriseInstall: true }), undefined, 'an org-wide event without its org');
        const found = await installations.find({ enterpriseId: 'E1', isEnterpriseInstall: true });
        assert.deepEqual(found, { enterpriseId: 'E1', isEnterpriseInstall: true, botUserId: 'U_E1', scopes: ['chat:write'], botToken: 'xoxb-e1' });
      }));

    void it('a reinstall replaces the installation in its row, keeping when it was first installed', () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        const installations = installationsOn(replica);
        await installations.save(workspace('T1', 'xoxb-old', { botId: 'B_OLD' }));
        const [first] = await replica.query<{ installed_at: number }>('SELECT installed_at FROM installations');
        await new Promise((resolve) => setTimeout(resolve, 5));
        await installations.save(workspace('T1', 'xoxb-new', { botUserId: 'U_NEW', scopes: ['chat:write', 'commands'] }));
        assert.deepEqual(await installations.find({ teamId: 'T1' }), workspace('T1', 'xoxb-new', { botUserId: 'U_NEW', scopes: ['chat:write', 'commands'] }));
        const rows = await replica.query<{ installed_at: number; updated_at: number }>('SELECT installed_at, updated_at FROM installations');
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.installed_at, first!.installed_at);
        assert.ok(rows[0]!.updated_at > rows[0]!.installed_at, 'updated_at moves on a reinstall');
        assert.deepEqual(await installations.census(), { installations: 1, otherKey: 0 });
      }));

    void it('an uninstall deletes its own row only: the workspace, or the org for an org-wide install', () =>
      withStore(engine, async (store) => {
        const installations = installationsOn(await store.replica());
        await installations.save(workspace('T1', 'xoxb-t1', { enterpriseId: 'E1' }));
        await installations.save(workspace('T2', 'xoxb-t2', { enterpriseId: 'E1' }));
        await installations.save(org('E1', 'xoxb-e1'));
        assert.equal(await installations.delete({ teamId: 'T1', enterpriseId: 'E1', isEnterpriseInstall: true }), 1);
        assert.equal(await installations.find({ teamId: 'T9', enterpriseId: 'E1' }), undefined, 'the org-wide install went');
        assert.equal((await installations.find({ teamId: 'T1', enterpriseId: 'E1' }))?.botToken, 'xoxb-t1', "the workspace's own stays");
        assert.equal(await installations.delete({ teamId: 'T1', enterpriseId: 'E1' }), 1);
        assert.equal(await installations.find({ teamId: 'T1', enterpriseId: 'E1' }), undefined);
        assert.equal(await installations.delete({ teamId: 'T1' }), 0, 'already gone');
        assert.equal(await installations.delete({ teamId: 'T9' }), 0);
        assert.equal(await installations.delete({}), 0);
        assert.deepEqual(await installations.census(), { installations: 1, otherKey: 0 });
      }));

    void it('refuses an installation with neither id it is keyed by, and stores nothing', () =>
      withStore(engine, async (store) => {
        const installations = installationsOn(await store.replica());
        await assert.rejects(installations.save({ isEnterpriseInstall: false, enterpriseId: 'E1', botUserId: 'U1', scopes: [], botToken: 'xoxb-1' }), TypeError);
        await assert.rejects(installations.save({ isEnterpriseInstall: true, teamId: 'T1', botUserId: 'U1', scopes: [], botToken: 'xoxb-1' }), TypeError);
        assert.deepEqual(await installations.census(), { installations: 0, otherKey: 0 });
      }));

    void it('a token sealed under another key does not open, and the census counts it', () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        const before = installationsOn(replica, new SecretBox(randomBytes(32).toString('base64')));
        await before.save(workspace('T1', 'xoxb-t1'));
        const installations = installationsOn(replica);
        await installations.save(workspace('T2', 'xoxb-t2'));
        await assert.rejects(installations.find({ teamId: 'T1' }), refused('secret_key_mismatch'));
        assert.equal((await installations.find({ teamId: 'T2' }))?.botToken, 'xoxb-t2', 'the others still open');
        assert.deepEqual(await installations.census(), { installations: 2, otherKey: 1 });
        // Installing again stores the token under the current key.
        await installations.save(workspace('T1', 'xoxb-t1-again'));
        assert.equal((await installations.find({ teamId: 'T1' }))?.botToken, 'xoxb-t1-again');
        assert.deepEqual(await installations.census(), { installations: 2, otherKey: 0 });
      }));

    void it('a token copied into another row does not open there', () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        const installations = installationsOn(replica);
        await installations.save(workspace('T1', 'xoxb-t1'));
        await installations.save(workspace('T2', 'xoxb-t2'));
        await replica.query(
          "UPDATE installations SET bot_token_sealed = (SELECT bot_token_sealed FROM installations WHERE install_key = 'team:T1') WHERE install_key = 'team:T2'",
        );
        await assert.rejects(installations.find({ teamId: 'T2' }), refused('secret_tampered'));
        assert.equal((await installations.find({ teamId: 'T1' }))?.botToken, 'xoxb-t1');
        // Nor into the same workspace under another platform.
        const teams = installationsOn(replica, BOX, 'teams');
        await teams.save(workspace('T1', 'xoxb-other'));
        await replica.query(
          "UPDATE installations SET bot_token_sealed = (SELECT bot_token_sealed FROM installations WHERE platform = 'slack' AND install_key = 'team:T1') WHERE platform = 'teams'",
        );
        await assert.rejects(teams.find({ teamId: 'T1' }), refused('secret_tampered'));
      }));

    void it("two replicas see each other's installs, reinstalls and uninstalls", () =>
      withStore(engine, async (store) => {
        const [one, two] = [installationsOn(await store.replica()), installationsOn(await store.replica())];
        await one.save(workspace('T1', 'xoxb-t1'));
        assert.equal((await two.find({ teamId: 'T1' }))?.botToken, 'xoxb-t1');
        await two.save(workspace('T1', 'xoxb-t1-new'));
        assert.equal((await one.find({ teamId: 'T1' }))?.botToken, 'xoxb-t1-new');
        assert.equal(await one.delete({ teamId: 'T1' }), 1);
        assert.equal(await two.find({ teamId: 'T1' }), undefined);
        // Reinstalls racing on both replicas leave one row, whose token is one of theirs and opens.
        const tokens = Array.from({ length: 10 }, (_, i) => `xoxb-race-${i}`);
        await Promise.all(tokens.map((token, i) => (i % 2 === 0 ? one : two).save(workspace('T2', token))));
        const winner = (await one.find({ teamId: 'T2' }))?.botToken;
        assert.ok(winner !== undefined && tokens.includes(winner), `one of the saved tokens, got ${winner}`);
        assert.equal((await two.find({ teamId: 'T2' }))?.botToken, winner);
        assert.deepEqual(await two.census(), { installations: 1, otherKey: 0 });
      }));
  });
}
