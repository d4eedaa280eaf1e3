import { ConfigError } from '../errors.ts';
import { ownerKey } from './ownership.ts';

/** The forms an `HR_ADMINS` entry may take; each names exactly one user in one workspace or tenant. */
export const ADMIN_FORMS = [
  'slack:<team id>:<user id> (e.g. slack:T0123ABCD:U0123ABCD; on Enterprise Grid the workspace T… id, one entry per workspace)',
  'teams:<tenant id>:<AAD object id> (two GUIDs)',
  'console:local:<user> (the terminal chat)',
] as const;

const SLACK_TEAM = /^[TE][A-Z0-9]+$/i;
const SLACK_USER = /^[UW][A-Z0-9]+$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The tenant the Teams emulator (no tenant on its activities) and the console use. */
const LOCAL_TENANT = 'local';
const PLAIN_ID = /^[^\s,]+$/;

/**
 * Parse `HR_ADMINS` (comma-separated) into the owner keys of the admins, the same keys the engine
 * derives from a verified sender, so an admin of one workspace is nobody special in another.
 * An entry that names no workspace or tenant (`U0ADMIN1`, `slack:U0ADMIN1`) could match a
 * stranger elsewhere, so it is a configuration error naming the entry and the accepted forms.
 */
export function parseAdmins(value: string): ReadonlySet<string> {
  const admins = new Set<string>();
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry !== '') admins.add(parseAdmin(entry));
  }
  return admins;
}

function parseAdmin(entry: string): string {
  const [platform = '', tenant = '', ...rest] = entry.split(':');
  // A Teams emulator user id may itself contain colons (`29:…`); everything after the tenant is the user.
  const user = rest.join(':');
  switch (platform.toLowerCase()) {
    case 'slack':
      // Slack ids are upper case; the tenant is the team id the adapter takes from the signed envelope.
      if (SLACK_TEAM.test(tenant) && SLACK_USER.test(user)) return ownerKey({ platform: 'slack', tenantId: tenant.toUpperCase(), userId: user.toUpperCase() });
      break;
    case 'teams':
      // Teams sends tenant and AAD object ids as lower-case GUIDs.
      if (GUID.test(tenant) && GUID.test(user)) return ownerKey({ platform: 'teams', tenantId: tenant.toLowerCase(), userId: user.toLowerCase() });
      if (tenant === LOCAL_TENANT && PLAIN_ID.test(user)) return ownerKey({ platform: 'teams', tenantId: LOCAL_TENANT, userId: user });
      break;
    case 'console':
      if (tenant === LOCAL_TENANT && PLAIN_ID.test(user)) return ownerKey({ platform: 'console', tenantId: LOCAL_TENANT, userId: user });
      break;
    default:
      break;
  }
  throw new ConfigError(
    `Invalid configuration:\n  HR_ADMINS: "${entry.slice(0, 100)}" does not name one user in one workspace or tenant; write each entry as one of:\n    ${ADMIN_FORMS.join('\n    ')}`,
  );
}
