import { conversationKey, ownerKey } from '../engine/ownership.ts';
import type { IncomingMessage } from '../message.ts';
import type { NewInboxItem } from './inbox-store.ts';

/** The platform payload stays out of the store: a worker needs only the normalized message. */
export function storableMessage(message: IncomingMessage): IncomingMessage {
  const { raw: _raw, ...rest } = message;
  return rest;
}

/**
 * The inbox row for a message and the work around it (`payload`, in the adapter's own stored form):
 * its lane is the conversation (so a user's messages there are answered in order), its order the
 * platform's own timestamp of the message.
 */
export function messageItem(message: IncomingMessage, order: number, payload: string): NewInboxItem {
  return {
    eventKey: `${message.platform}:${message.eventId}`,
    platform: message.platform,
    laneKey: conversationKey(message),
    ownerKey: ownerKey(message),
    order,
    payload,
  };
}
