// Issue 13: the packaged Teams manifest validates against Microsoft's own JSON schema, offline: the
// schema files ship in the npm package @microsoft/app-manifest (a devDependency), under
// build/json-schemas/teams/v<manifestVersion>/MicrosoftTeams.schema.json.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ManifestUtil } from '@microsoft/app-manifest';
import { unzipSync } from 'fflate';
import { tempDir } from './support/temp-bot.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const APP_ID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';

/** Microsoft's schema for one manifest version, as the package ships it. */
function officialSchema(manifestVersion: string): Record<string, unknown> {
  const path = require.resolve(`@microsoft/app-manifest/build/json-schemas/teams/v${manifestVersion}/MicrosoftTeams.schema.json`);
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

type Validate = typeof ManifestUtil.validateManifestAgainstSchema;

/** Schema errors of `manifest`, none when valid. Typed loosely on purpose: whether it fits is the question. */
function schemaErrors(manifest: Record<string, unknown>, schema: Record<string, unknown>): Promise<string[]> {
  return ManifestUtil.validateManifestAgainstSchema(manifest as unknown as Parameters<Validate>[0], schema as unknown as Parameters<Validate>[1]);
}

/** Build the package as `npm run package:teams` does and return its manifest. */
async function packagedManifest(env: Record<string, string>): Promise<Record<string, unknown>> {
  const dir = tempDir();
  try {
    const out = join(dir.path, 'hrbot-teams.zip');
    const { MICROSOFT_APP_ID: _id, BOT_NAME: _name, ...base } = process.env;
    await run(process.execPath, ['--import', 'tsx', 'manifest/teams/package.ts', '--out', out], { cwd: root, env: { ...base, ...env }, timeout: 30_000 });
    const files = unzipSync(readFileSync(out));
    return JSON.parse(new TextDecoder().decode(files['manifest.json'])) as Record<string, unknown>;
  } finally {
    dir.remove();
  }
}

describe('Teams manifest against the official schema', () => {
  it('validates with the default name, and names the app BOT_NAME', async () => {
    for (const name of [undefined, 'People "Desk" \\ HR']) {
      const manifest = await packagedManifest({ MICROSOFT_APP_ID: APP_ID, ...(name === undefined ? {} : { BOT_NAME: name }) });
      const schema = officialSchema(manifest.manifestVersion as string);
      assert.deepEqual(await schemaErrors(manifest, schema), []);
      const names = manifest.name as { short: string; full: string };
      assert.equal(names.short, name ?? 'HR Assistant');
      assert.ok(names.full.startsWith(names.short));
      assert.doesNotMatch(JSON.stringify(manifest), /\{\{|HR Bot/, 'every placeholder filled, no old name left');
    }
  });

  it('is a real check: the same schema refuses a manifest Teams would refuse', async () => {
    const manifest = await packagedManifest({ MICROSOFT_APP_ID: APP_ID });
    const schema = officialSchema(manifest.manifestVersion as string);
    const tooLong = { ...manifest, name: { short: 'x'.repeat(31), full: 'x' } };
    assert.notDeepEqual(await schemaErrors(tooLong, schema), []);
    const { developer: _developer, ...noDeveloper } = manifest;
    assert.notDeepEqual(await schemaErrors(noDeveloper, schema), []);
  });
});
