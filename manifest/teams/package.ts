/**
 * `npm run package:teams`: writes the Teams app package (manifest.json with the bot's app id filled
 * in, color.png, outline.png at the zip root) to manifest/teams/build/hrbot-teams.zip, ready to
 * upload in Teams ("Upload a custom app") or the Teams admin center.
 *
 * Options: `--out <file>` to write elsewhere. The app id comes from MICROSOFT_APP_ID, the app's
 * name (name.short, and in the texts) from BOT_NAME.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { loadConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What fills the template's `{{…}}` placeholders. */
interface ManifestValues {
  MICROSOFT_APP_ID: string;
  VERSION: string;
  BOT_NAME: string;
}

/**
 * Fill the placeholders in every string of the parsed template, so a value with quotes or
 * backslashes (a bot name) stays one JSON string instead of breaking the file.
 */
function fill(value: unknown, values: ManifestValues): unknown {
  if (typeof value === 'string') return value.replace(/\{\{(MICROSOFT_APP_ID|VERSION|BOT_NAME)\}\}/g, (_m, key: keyof ManifestValues) => values[key]);
  if (Array.isArray(value)) return value.map((item) => fill(item, values));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fill(item, values)]));
  return value;
}

/** The upload zip for one app id, version and bot name. */
function buildTeamsPackage(appId: string, version: string, botName: string): Uint8Array {
  if (!GUID.test(appId)) {
    throw new ConfigError(`MICROSOFT_APP_ID must be the bot's Microsoft App ID, a GUID such as 00000000-0000-0000-0000-000000000000 (got ${appId.length} characters)`);
  }
  const template: unknown = JSON.parse(readFileSync(`${here}manifest.json`, 'utf8'));
  const manifest = fill(template, { MICROSOFT_APP_ID: appId.toLowerCase(), VERSION: version, BOT_NAME: botName });
  return zipSync({
    'manifest.json': new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
    'color.png': readFileSync(`${here}color.png`),
    'outline.png': readFileSync(`${here}outline.png`),
  });
}

function main(argv: readonly string[]): number {
  const outIndex = argv.indexOf('--out');
  const out = resolve(outIndex === -1 ? `${here}build/hrbot-teams.zip` : (argv[outIndex + 1] ?? ''));
  try {
    const { env } = loadConfig();
    const appId = env.MICROSOFT_APP_ID;
    if (appId === undefined) throw new ConfigError('MICROSOFT_APP_ID is not set: the Teams package needs the bot\'s Microsoft App ID (from the Azure Bot resource)');
    const version = (JSON.parse(readFileSync(`${here}../../package.json`, 'utf8')) as { version: string }).version;
    const zip = buildTeamsPackage(appId, version, env.BOT_NAME);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, zip);
    process.stdout.write(`Teams app package written to ${out}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`package:teams: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = main(process.argv.slice(2));
