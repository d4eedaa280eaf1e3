import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { unzipSync } from 'fflate';
import { pngInfo } from '../manifest/teams/png.ts';
import { tempDir } from './support/temp-bot.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const APP_ID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Runs the same script `npm run package:teams` runs. */
function packageTeams(env: Record<string, string>, out: string) {
  const { MICROSOFT_APP_ID: _ignored, ...base } = process.env;
  return run(process.execPath, ['--import', 'tsx', 'manifest/teams/package.ts', '--out', out], { cwd: root, env: { ...base, ...env }, timeout: 30_000 });
}

describe('Teams app package', () => {
  it('is wired as npm run package:teams', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['package:teams'], 'tsx manifest/teams/package.ts');
  });

  it('writes a zip with a manifest Teams accepts and valid icons', async () => {
    const dir = tempDir();
    try {
      const out = join(dir.path, 'hrbot-teams.zip');
      await packageTeams({ MICROSOFT_APP_ID: APP_ID }, out);
      const files = unzipSync(readFileSync(out));
      assert.deepEqual(Object.keys(files).sort(), ['color.png', 'manifest.json', 'outline.png']);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the manifest is checked field by field below
      const manifest = JSON.parse(new TextDecoder().decode(files['manifest.json'])) as Record<string, any>;

      // The schema's required top-level fields, and the nested ones it requires.
      for (const field of ['$schema', 'manifestVersion', 'version', 'id', 'developer', 'name', 'description', 'icons', 'accentColor']) {
        assert.ok(manifest[field] !== undefined, `manifest.${field}`);
      }
      assert.match(manifest.$schema, /^https:\/\/developer\.microsoft\.com\/json-schemas\/teams\/v1\.\d+\/MicrosoftTeams\.schema\.json$/);
      assert.equal(manifest.$schema, `https://developer.microsoft.com/json-schemas/teams/v${manifest.manifestVersion}/MicrosoftTeams.schema.json`);
      assert.match(manifest.version, /^\d+\.\d+\.\d+$/);
      assert.match(manifest.id, GUID);
      assert.equal(manifest.id, APP_ID);
      for (const field of ['name', 'websiteUrl', 'privacyUrl', 'termsOfUseUrl']) assert.ok(manifest.developer[field], `developer.${field}`);
      for (const field of ['websiteUrl', 'privacyUrl', 'termsOfUseUrl']) assert.match(manifest.developer[field], /^https:\/\//);
      assert.ok(manifest.name.short.length > 0 && manifest.name.short.length <= 30);
      assert.ok(manifest.name.full.length <= 100);
      assert.ok(manifest.description.short.length > 0 && manifest.description.short.length <= 80);
      assert.ok(manifest.description.full.length > 0 && manifest.description.full.length <= 4000);
      assert.match(manifest.accentColor, /^#[0-9a-fA-F]{6}$/);
      assert.deepEqual(manifest.icons, { color: 'color.png', outline: 'outline.png' });
      assert.ok(Array.isArray(manifest.validDomains));

      const [bot] = manifest.bots;
      assert.equal(bot.botId, APP_ID);
      assert.deepEqual([...bot.scopes].sort(), ['groupChat', 'personal', 'team']);
      const commands = bot.commandLists.flatMap((list: { commands: Array<{ title: string; description: string }> }) => list.commands);
      const titles = (scope: string) =>
        bot.commandLists.filter((list: { scopes: string[] }) => list.scopes.includes(scope)).flatMap((list: { commands: Array<{ title: string }> }) => list.commands.map((c) => c.title));
      // history, usage and forget answer only in a personal chat, so only there are they suggested.
      assert.deepEqual(titles('personal'), ['help', 'policy', 'ask', 'holidays', 'contact', 'history', 'usage', 'forget']);
      assert.deepEqual(titles('team'), ['help', 'policy', 'ask', 'holidays', 'contact']);
      assert.deepEqual(titles('groupChat'), ['help', 'policy', 'ask', 'holidays', 'contact']);
      for (const list of bot.commandLists) assert.ok(list.commands.length <= 10);
      for (const command of commands) assert.ok(command.title.length <= 32 && command.description.length <= 128, command.title);

      assert.deepEqual(pngInfo(files['color.png']!), { width: 192, height: 192, colorType: 6 });
      assert.deepEqual(pngInfo(files['outline.png']!), { width: 32, height: 32, colorType: 6 });
    } finally {
      dir.remove();
    }
  });

  it('names MICROSOFT_APP_ID when it is missing or not a GUID', async () => {
    const dir = tempDir();
    try {
      for (const env of [{}, { MICROSOFT_APP_ID: 'not-a-guid' }] as Array<Record<string, string>>) {
        await assert.rejects(packageTeams(env, join(dir.path, 'x.zip')), (error: { code?: number; stderr?: string }) => {
          assert.equal(error.code, 2);
          assert.match(error.stderr ?? '', /MICROSOFT_APP_ID/);
          return true;
        });
      }
    } finally {
      dir.remove();
    }
  });
});
