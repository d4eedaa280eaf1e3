import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import ts from 'typescript';
import { loadConfig } from '../src/config.ts';

const MANIFEST_PATH = fileURLToPath(new URL('../manifest/slack.yaml', import.meta.url));
const manifest = readFileSync(MANIFEST_PATH, 'utf8');
const parsed = yaml.load(manifest) as {
  display_information: { name: string; description: string; long_description: string };
  features: { bot_user: { display_name: string }; agent_view?: { agent_description?: string; suggested_prompts?: unknown[] }; assistant_view?: unknown; app_home: Record<string, boolean> };
  oauth_config: { scopes: { bot: string[] } };
  settings: { event_subscriptions: { request_url: string; bot_events: string[] }; interactivity: { is_enabled: boolean; request_url: string } };
};

/**
 * Type errors of the manifest read as Slack's own manifest type, the one @slack/web-api ships for
 * apps.manifest.validate/create/update: every key must be one Slack knows (TypeScript's excess
 * property check on the literal) with the type Slack gives it. Slack's JSON schema
 * (slackapi/manifest-schema) is published on no package registry, so this is the official
 * definition available offline.
 */
function manifestTypeErrors(...values: unknown[]): string[][] {
  const root = dirname(dirname(MANIFEST_PATH));
  // One program for all the variants: loading the SDK's types is the slow part.
  const files = new Map(values.map((value, index) => [
    join(root, 'test', `__slack-manifest-check-${index}.ts`),
    `import type { webApi } from '@slack/bolt';\nexport const manifest: webApi.AppsManifestValidateArguments['manifest'] = ${JSON.stringify(value, null, 2)};\n`,
  ]));
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => {
    const source = files.get(name);
    return source === undefined ? getSourceFile(name, version, ...rest) : ts.createSourceFile(name, source, version);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  const program = ts.createProgram([...files.keys()], options, host);
  return [...files.keys()].map((name) => ts.getPreEmitDiagnostics(program, program.getSourceFile(name)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')));
}

/**
 * Bot scopes Slack documents that the SDK's scope list lacks: `assistant:write` is the scope of
 * assistant.threads.setStatus, setTitle and setSuggestedPrompts (docs.slack.dev method pages).
 */
const SCOPES_MISSING_FROM_SDK = ['assistant:write'];

describe('Slack app manifest', () => {
  it("is a manifest Slack's own manifest type (@slack/web-api) accepts", () => {
    const bot = parsed.oauth_config.scopes.bot;
    const checked = { ...parsed, oauth_config: { scopes: { bot: bot.filter((scope) => !SCOPES_MISSING_FROM_SDK.includes(scope)) } } };
    const [ours, unfiltered, misspelt, wrongType, unknownEvent] = manifestTypeErrors(
      checked,
      parsed,
      { ...checked, features: { ...parsed.features, agent_veiw: {} } },
      { ...checked, features: { ...parsed.features, agent_view: { agent_description: 42 } } },
      { ...checked, settings: { ...parsed.settings, event_subscriptions: { ...parsed.settings.event_subscriptions, bot_events: ['message.imm'] } } },
    );
    assert.deepEqual(ours, []);
    // When the SDK learns the scope, this fails: drop it from SCOPES_MISSING_FROM_SDK.
    assert.match(unfiltered!.join('\n'), /"assistant:write"' is not assignable to type 'BotScope'/);
    // The check can fail: a misspelt feature, a wrong type or an unknown event is caught.
    assert.notDeepEqual(misspelt, []);
    assert.notDeepEqual(wrongType, []);
    assert.notDeepEqual(unknownEvent, []);
  });

  it("keeps Slack's documented limits", () => {
    const info = parsed.display_information;
    assert.ok(info.name.length >= 1 && info.name.length <= 35, 'name: 1–35 characters');
    assert.ok(info.description.length <= 140, 'description: at most 140');
    assert.ok(info.long_description.length >= 175 && info.long_description.length <= 4000, 'long_description: 175–4,000');
    assert.ok(parsed.features.bot_user.display_name.length <= 80, 'bot display name: at most 80');
    const agent = parsed.features.agent_view;
    assert.ok(agent?.agent_description !== undefined && agent.agent_description.length <= 300, 'agent_description: at most 300');
    assert.ok((agent.suggested_prompts ?? []).length <= 4, 'at most four suggested prompts');
  });

  it('uses the agent messaging experience, not the retired assistant view, under the default BOT_NAME', () => {
    assert.equal(parsed.features.assistant_view, undefined);
    assert.equal(parsed.features.app_home['messages_tab_enabled'], true);
    assert.equal(parsed.features.app_home['messages_tab_read_only_enabled'], false);
    const botName = loadConfig({}).env.BOT_NAME;
    assert.equal(parsed.display_information.name, botName);
    assert.equal(parsed.features.bot_user.display_name, botName);
  });

  it('asks only for the bot scopes and events the adapter uses', () => {
    assert.deepEqual([...parsed.oauth_config.scopes.bot].sort(), ['app_mentions:read', 'assistant:write', 'chat:write', 'commands', 'im:history']);
    assert.deepEqual([...parsed.settings.event_subscriptions.bot_events].sort(), ['app_home_opened', 'app_mention', 'app_uninstalled', 'message.im', 'tokens_revoked']);
  });

  it('has the Home tab, the message shortcut, and what OAuth installs need (redirect URL, org-wide installs)', () => {
    assert.match(manifest, /home_tab_enabled: true/);
    assert.match(manifest, /type: message\n\s+callback_id: ask_hr_about_message/);
    assert.match(manifest, /redirect_urls:\n\s+- https:\/\/hrbot\.example\.com\/slack\/oauth_redirect/);
    assert.match(manifest, /org_deploy_enabled: true/);
  });

  it('sends events, /hr and interactivity to /slack/events', () => {
    assert.match(manifest, /- command: \/hr\n/);
    assert.equal(parsed.settings.interactivity.is_enabled, true);
    const urls = [...manifest.matchAll(/^\s*(?:request_)?url:\s*(\S+)/gm)].map((m) => m[1]);
    assert.equal(urls.length, 3);
    for (const url of urls) assert.equal(url, 'https://hrbot.example.com/slack/events');
  });
});
