import { createHash } from 'node:crypto';
import type { IncomingMessage, Platform } from '../message.ts';

/** The verified identity of one person on one platform and tenant. */
export interface Owner {
  platform: Platform;
  tenantId: string;
  userId: string;
}

/** Stable key for a user: platform + verified tenant + verified user. */
export function ownerKey(owner: Owner): string {
  return `${owner.platform}:${owner.tenantId}:${owner.userId}`;
}

/** Stable key for a tenant, for usage totals. */
export function tenantKey(owner: Pick<Owner, 'platform' | 'tenantId'>): string {
  return `${owner.platform}:${owner.tenantId}`;
}

/**
 * The conversation a message belongs to, derived from the verified owner plus the place and
 * thread. Because the owner is part of the key, two users in one channel thread never share
 * a conversation, and no id in a payload can name someone else's.
 */
export function conversationKey(message: IncomingMessage): string {
  const parts = [ownerKey(message), message.conversationKind, message.conversationId, message.threadId ?? ''];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 32);
}
