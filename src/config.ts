import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { parseAdmins } from './engine/admins.ts';
import { ConfigError } from './errors.ts';
import { encryptionKeyProblem } from './secret-box.ts';

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const positiveInt = (fallback: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

const url = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional()
  .refine((value) => value === undefined || URL.canParse(value), 'must be an absolute URL such as https://slack.com/api/');

/**
 * Every environment variable the bot reads, with its default. `.env.example` documents each one,
 * and a test fails when this schema and that file disagree.
 */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(3978),
  HOST: optionalString,
  // Unset: /metrics is served on PORT. 0: any free port (tests), as for PORT.
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  METRICS_TOKEN: optionalString.refine(
    (value) => value === undefined || (value.length >= 16 && !/\s/.test(value)),
    'must be at least 16 characters without spaces, e.g. the output of `openssl rand -hex 32`',
  ),
  // Server processes on this machine, sharing PORT (the terminal chat is always one).
  WORKERS: positiveInt(1, 64),
  HRBOT_MODE: z.enum(['auto', 'console', 'server']).default('auto'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PSEUDONYM_KEY: optionalString,
  DATABASE_PATH: z.string().trim().min(1).default('./data/hrbot.db'),
  DATABASE_URL: optionalString.refine(
    (value) => value === undefined || /^postgres(ql)?:\/\/./.test(value),
    'must be a PostgreSQL URL such as postgres://hrbot:<password>@db.internal:5432/hrbot',
  ),
  KNOWLEDGE_DIR: z.string().trim().min(1).default('./knowledge'),
  KNOWLEDGE_BASE_URL: url,
  BOT_NAME: z.string().trim().min(1).max(30).default('HR Assistant'),
  HR_ADMINS: z.string().default(''),
  CONSOLE_USER: optionalString,
  MAX_MESSAGE_CHARS: positiveInt(4000, 40_000),
  RATE_LIMIT_PER_MINUTE: positiveInt(20, 10_000),
  DAILY_QUESTION_QUOTA: positiveInt(200, 1_000_000),
  CONVERSATION_QUEUE_LIMIT: positiveInt(10, 1_000),
  ACTIVE_CONVERSATIONS_MAX: positiveInt(10_000, 1_000_000),

  SLACK_SIGNING_SECRET: optionalString,
  SLACK_BOT_TOKEN: optionalString,
  SLACK_APP_TOKEN: optionalString,
  SLACK_API_URL: url,
  // OAuth installs (several workspaces, Enterprise Grid): all three together, instead of SLACK_BOT_TOKEN.
  SLACK_CLIENT_ID: optionalString,
  SLACK_CLIENT_SECRET: optionalString,
  SLACK_STATE_SECRET: optionalString.refine(
    (value) => value === undefined || (value.length >= 16 && !/\s/.test(value)),
    'must be at least 16 characters without spaces (it signs the OAuth state), e.g. the output of `openssl rand -hex 32`',
  ),
  HRBOT_ENCRYPTION_KEY: optionalString.superRefine((value, context) => {
    const problem = value === undefined ? undefined : encryptionKeyProblem(value);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: `${problem}; generate one with \`openssl rand -base64 32\`` });
  }),

  MICROSOFT_APP_ID: optionalString,
  MICROSOFT_APP_PASSWORD: optionalString,
  MICROSOFT_APP_TYPE: z.enum(['MultiTenant', 'SingleTenant', 'UserAssignedMSI']).optional(),
  MICROSOFT_APP_TENANT_ID: optionalString,
  TEAMS_EMULATOR: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),

  AWS_REGION: optionalString,
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_SECRET_ACCESS_KEY: optionalString,
  AWS_SESSION_TOKEN: optionalString,
  AWS_PROFILE: optionalString,
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME: url,
  BEDROCK_MODEL_ID: optionalString,
  BEDROCK_MAX_TOKENS: positiveInt(800, 8_192),
  // 'off' turns hybrid search off (the handbook is then searched by words alone, as with AI off).
  BEDROCK_EMBEDDING_MODEL_ID: z.string().trim().transform((value) => (value === '' ? 'amazon.titan-embed-text-v2:0' : value)).default('amazon.titan-embed-text-v2:0'),
  // Unset: no rerank (the order of hybrid search stands).
  BEDROCK_RERANK_MODEL_ID: optionalString,
  LLM_CONCURRENCY: positiveInt(16, 1_000),
  LLM_QUEUE_LIMIT: positiveInt(2_000, 100_000),
  LLM_REQUESTS_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(0),
  LLM_TIMEOUT_MS: positiveInt(30_000, 600_000),
  LLM_MAX_ATTEMPTS: positiveInt(3, 10),
  LLM_MAX_THROTTLED_ATTEMPTS: positiveInt(8, 50),
  LLM_BACKOFF_BASE_MS: positiveInt(250, 60_000),
  LLM_BACKOFF_MAX_MS: positiveInt(10_000, 600_000),
  LLM_BREAKER_FAILURES: positiveInt(5, 1_000),
  LLM_BREAKER_COOLDOWN_MS: positiveInt(30_000, 3_600_000),
  ANSWER_CACHE_MAX_ENTRIES: positiveInt(2_000, 1_000_000),
  ANSWER_CACHE_MAX_BYTES: positiveInt(8_000_000, 1_000_000_000),
  ANSWER_CACHE_MAX_ROWS: positiveInt(20_000, 10_000_000),
  MEMORY_TURNS: positiveInt(6, 100),
  MEMORY_MAX_TOKENS: positiveInt(1_500, 100_000),
  MEMORY_MAX_CONVERSATIONS: positiveInt(5_000, 1_000_000),
  MEMORY_IDLE_TTL_MS: positiveInt(1_800_000, 86_400_000),
  // '' must mean the default here: coerced, it would be 0, which keeps nothing.
  RETENTION_DAYS: z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z.coerce.number().int().min(0).max(36_500).default(90),
  ),
});

export type Env = z.infer<typeof envSchema>;

/** The environment variable names the bot reads (for the documentation test). */
export const ENV_NAMES: readonly string[] = Object.keys(envSchema.shape);

/**
 * How `POST /api/messages` is served: `authenticated` (MICROSOFT_APP_ID set, every request must
 * carry a Bot Framework token), `emulator` (TEAMS_EMULATOR=true on a loopback HOST, no
 * authentication) or `off` (the route does not exist).
 */
export type TeamsMode = 'authenticated' | 'emulator' | 'off';

/** Validated configuration, derived once at start. */
export interface Config {
  env: Env;
  /** Owner keys (`platform:tenant:user`) of the users allowed admin commands; see parseAdmins. */
  admins: ReadonlySet<string>;
  /**
   * How Slack reaches the bot (`mode`), and where its tokens come from (`installs`): `token`, the one
   * SLACK_BOT_TOKEN (the default), or `oauth`, one installation per workspace or org stored encrypted
   * (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET set; SLACK_BOT_TOKEN is then unused).
   */
  slack: { mode: 'http' | 'socket' | 'off'; installs: 'token' | 'oauth' };
  teams: { mode: TeamsMode; enabled: boolean; authenticated: boolean };
  bedrock: { enabled: boolean };
}

/**
 * Validate the environment once at start. Throws a ConfigError whose message names every
 * offending variable and what it expected.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, string | undefined> = {};
  // An empty value means the default, for every variable (as `.env.example` lists them: `NAME=`).
  for (const name of ENV_NAMES) raw[name] = source[name]?.trim() === '' ? undefined : source[name];
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      return `${name}: ${issue.message} (got ${describe(raw[String(issue.path[0])])})`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const env = parsed.data;
  const oauth = checkSlackOAuth(env);
  if (!oauth && env.SLACK_SIGNING_SECRET !== undefined && env.SLACK_BOT_TOKEN === undefined) {
    throw misconfigured(
      'SLACK_BOT_TOKEN',
      'is not set, but SLACK_SIGNING_SECRET is: the bot needs its token to answer',
      "Set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…, OAuth & Permissions in the Slack app's settings), or unset SLACK_SIGNING_SECRET",
    );
  }
  if (!oauth && env.SLACK_APP_TOKEN !== undefined && env.SLACK_BOT_TOKEN === undefined) {
    throw misconfigured(
      'SLACK_BOT_TOKEN',
      'is not set, but SLACK_APP_TOKEN is: Socket Mode needs the bot token too',
      "Set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…), or unset SLACK_APP_TOKEN",
    );
  }
  if (env.SLACK_APP_TOKEN !== undefined && !env.SLACK_APP_TOKEN.startsWith('xapp-')) {
    throw misconfigured(
      'SLACK_APP_TOKEN',
      'must be an app-level token starting with xapp-',
      "Create one with the connections:write scope under Basic Information > App-Level Tokens in the Slack app's settings",
    );
  }
  if (env.MICROSOFT_APP_ID !== undefined && env.MICROSOFT_APP_TYPE === 'SingleTenant' && env.MICROSOFT_APP_TENANT_ID === undefined) {
    throw misconfigured(
      'MICROSOFT_APP_TENANT_ID',
      'is not set, but MICROSOFT_APP_TYPE is SingleTenant, which needs it',
      "Set MICROSOFT_APP_TENANT_ID to the app registration's tenant (directory) id, or MICROSOFT_APP_TYPE=MultiTenant",
    );
  }
  if (env.TEAMS_EMULATOR && (env.HOST === undefined || !isLoopbackHost(env.HOST))) {
    throw misconfigured(
      'TEAMS_EMULATOR',
      'is true, which serves /api/messages without authentication, so HOST must be a loopback address ' +
        `(127.0.0.1, ::1 or localhost); HOST is ${env.HOST === undefined ? 'unset (all interfaces)' : 'not a loopback address'}`,
      'Set HOST=127.0.0.1 to use the Bot Framework Emulator on this machine, or unset TEAMS_EMULATOR and set MICROSOFT_APP_ID ' +
        'and MICROSOFT_APP_PASSWORD to serve Teams with authentication',
    );
  }
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT) {
    throw new ConfigError(
      `Invalid configuration:\n  METRICS_PORT: must differ from PORT (both are ${env.PORT}); unset METRICS_PORT to serve /metrics on PORT`,
    );
  }
  const teamsMode: TeamsMode = env.MICROSOFT_APP_ID !== undefined ? 'authenticated' : env.TEAMS_EMULATOR ? 'emulator' : 'off';
  const slackMode =
    env.SLACK_APP_TOKEN !== undefined ? 'socket' : env.SLACK_SIGNING_SECRET !== undefined ? 'http' : 'off';
  return {
    env,
    admins: parseAdmins(env.HR_ADMINS),
    slack: { mode: slackMode, installs: oauth ? 'oauth' : 'token' },
    teams: { mode: teamsMode, enabled: teamsMode !== 'off', authenticated: teamsMode === 'authenticated' },
    bedrock: { enabled: env.AWS_REGION !== undefined && env.BEDROCK_MODEL_ID !== undefined && hasAwsCredentials(env) },
  };
}

/** The OAuth install variables, all three or none; with them, HRBOT_ENCRYPTION_KEY. True when OAuth installs are on. */
function checkSlackOAuth(env: Env): boolean {
  const names = ['SLACK_CLIENT_ID', 'SLACK_CLIENT_SECRET', 'SLACK_STATE_SECRET'] as const;
  const missing = names.filter((name) => env[name] === undefined);
  if (missing.length === names.length) return false;
  if (missing.length > 0) {
    const set = names.filter((name) => env[name] !== undefined);
    throw misconfigured(
      missing.join(' and '),
      `${missing.length === 1 ? 'is' : 'are'} not set, but ${set.join(' and ')} ${set.length === 1 ? 'is' : 'are'}: OAuth installs need all three`,
      `Set ${missing.join(' and ')} (Client ID and Client Secret under Basic Information > App Credentials in the Slack app's settings; ` +
        'SLACK_STATE_SECRET any random string, e.g. `openssl rand -hex 32`), or unset all three to use the one SLACK_BOT_TOKEN',
    );
  }
  if (env.HRBOT_ENCRYPTION_KEY === undefined) {
    throw misconfigured(
      'HRBOT_ENCRYPTION_KEY',
      'is not set, but SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET are: the bot stores each installed workspace\'s token encrypted with it',
      'Set HRBOT_ENCRYPTION_KEY to 32 random bytes in base64 (`openssl rand -base64 32`) and keep it with your other secrets: the stored tokens cannot be read without it',
    );
  }
  return true;
}

/** Amazon's credentials, as the bot reads them: a key pair (+ session token) or a named profile. */
function hasAwsCredentials(env: Env): boolean {
  return (env.AWS_ACCESS_KEY_ID !== undefined && env.AWS_SECRET_ACCESS_KEY !== undefined) || env.AWS_PROFILE !== undefined;
}

/** One configuration mistake, on one line: the variable, what is wrong, and what to do. */
function misconfigured(variable: string, problem: string, fix: string): ConfigError {
  return new ConfigError(`Invalid configuration: ${variable} ${problem}. ${fix}.`);
}

/**
 * The settings that parse but would not start the bot as meant: a platform half configured would
 * silently be off (or the terminal chat open instead of the server), AI silently off, Teams refusing
 * every reply. Checked by the bot at start, not by tools that read one value (`npm run package:teams`
 * needs MICROSOFT_APP_ID alone). Throws a ConfigError of one line naming the variable, the problem and
 * the fix; returns warnings for settings that are legitimate but leave something unused.
 */
export function checkStartup(config: Config): string[] {
  const env = config.env;
  const warnings: string[] = [];
  // --- Slack
  if (env.SLACK_BOT_TOKEN !== undefined && env.SLACK_SIGNING_SECRET === undefined && env.SLACK_APP_TOKEN === undefined) {
    throw misconfigured(
      'SLACK_BOT_TOKEN',
      'is set without SLACK_SIGNING_SECRET or SLACK_APP_TOKEN, so Slack could not reach the bot',
      "Set SLACK_SIGNING_SECRET (Basic Information > Signing Secret in the Slack app's settings) to receive events over HTTP, " +
        'or SLACK_APP_TOKEN (an xapp- token) for Socket Mode; or unset SLACK_BOT_TOKEN to use the terminal chat',
    );
  }
  if (config.slack.installs === 'oauth' && env.SLACK_SIGNING_SECRET === undefined && env.SLACK_APP_TOKEN === undefined) {
    throw misconfigured(
      'SLACK_SIGNING_SECRET',
      'is not set, but SLACK_CLIENT_ID is (OAuth installs), so Slack could not reach the bot',
      "Set SLACK_SIGNING_SECRET (Basic Information > Signing Secret in the Slack app's settings) to receive events over HTTP, or SLACK_APP_TOKEN for Socket Mode",
    );
  }
  if (config.slack.installs === 'oauth' && env.SLACK_BOT_TOKEN !== undefined) {
    warnings.push(
      'SLACK_BOT_TOKEN is not used: SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET are set, so each workspace is answered with the token ' +
        'stored when it installed the app through /slack/install (install the app there again for the workspace that token belonged to)',
    );
  }
  if (env.SLACK_APP_TOKEN !== undefined && env.SLACK_SIGNING_SECRET !== undefined) {
    warnings.push('SLACK_SIGNING_SECRET is not used: SLACK_APP_TOKEN is set, so Slack events arrive over Socket Mode, not HTTP');
  }
  // --- Amazon Bedrock
  if (env.BEDROCK_MODEL_ID !== undefined && env.AWS_REGION === undefined) {
    throw misconfigured(
      'BEDROCK_MODEL_ID',
      'is set without AWS_REGION, so AI answers would be off',
      'Set AWS_REGION to the region where the model is enabled (e.g. us-east-1), or unset BEDROCK_MODEL_ID to answer with handbook excerpts',
    );
  }
  if ((env.AWS_ACCESS_KEY_ID === undefined) !== (env.AWS_SECRET_ACCESS_KEY === undefined)) {
    const [set, missing] = env.AWS_ACCESS_KEY_ID === undefined ? ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'] : ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
    throw misconfigured(missing, `is not set, but ${set} is: an access key needs both halves`, `Set ${missing} too, or unset ${set} (AWS_PROFILE names a profile instead)`);
  }
  if (env.BEDROCK_MODEL_ID !== undefined && !hasAwsCredentials(env)) {
    throw misconfigured(
      'BEDROCK_MODEL_ID',
      'is set without AWS credentials, so AI answers would be off',
      'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or AWS_PROFILE; or unset BEDROCK_MODEL_ID to answer with handbook excerpts',
    );
  }
  if (env.BEDROCK_RERANK_MODEL_ID !== undefined && env.BEDROCK_MODEL_ID === undefined) {
    warnings.push('BEDROCK_RERANK_MODEL_ID is not used: BEDROCK_MODEL_ID is not set, so AI answers are off and handbook excerpts keep the search order');
  }
  // --- Microsoft Teams (the rules botbuilder asserts when the first request arrives, told at start instead)
  const msi = env.MICROSOFT_APP_TYPE === 'UserAssignedMSI';
  if (env.MICROSOFT_APP_PASSWORD !== undefined && env.MICROSOFT_APP_ID === undefined) {
    throw misconfigured(
      'MICROSOFT_APP_ID',
      'is not set, but MICROSOFT_APP_PASSWORD is, so Teams would be off',
      "Set MICROSOFT_APP_ID to the Azure Bot's Microsoft App ID, or unset MICROSOFT_APP_PASSWORD",
    );
  }
  if (env.MICROSOFT_APP_ID !== undefined && !msi && env.MICROSOFT_APP_PASSWORD === undefined) {
    throw misconfigured(
      'MICROSOFT_APP_PASSWORD',
      `is not set, but MICROSOFT_APP_ID is, so Teams could not send a reply (${env.MICROSOFT_APP_TYPE ?? 'MultiTenant'} apps sign in with the app's client secret)`,
      "Set MICROSOFT_APP_PASSWORD to a client secret of the app registration, or MICROSOFT_APP_TYPE=UserAssignedMSI (with MICROSOFT_APP_TENANT_ID) to use a managed identity",
    );
  }
  if (env.MICROSOFT_APP_ID !== undefined && msi && env.MICROSOFT_APP_PASSWORD !== undefined) {
    throw misconfigured(
      'MICROSOFT_APP_PASSWORD',
      'is set with MICROSOFT_APP_TYPE=UserAssignedMSI, which signs in with the managed identity and refuses a password',
      'Unset MICROSOFT_APP_PASSWORD, or set MICROSOFT_APP_TYPE to MultiTenant or SingleTenant to use it',
    );
  }
  if (env.MICROSOFT_APP_ID !== undefined && msi && env.MICROSOFT_APP_TENANT_ID === undefined) {
    throw misconfigured(
      'MICROSOFT_APP_TENANT_ID',
      'is not set, but MICROSOFT_APP_TYPE is UserAssignedMSI, which needs it',
      "Set MICROSOFT_APP_TENANT_ID to the managed identity's tenant (directory) id",
    );
  }
  return warnings;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for an address only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped) or localhost. */
export function isLoopbackHost(host: string): boolean {
  if (isIPv4(host)) return LOOPBACK.check(host, 'ipv4');
  if (isIPv6(host)) return LOOPBACK.check(host, 'ipv6');
  return host.toLowerCase() === 'localhost';
}

// Names the shape of a bad value without echoing it: it may be a secret.
function describe(value: string | undefined): string {
  if (value === undefined) return 'nothing';
  return `a value of ${value.length} characters`;
}
