import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { HrbotError } from './errors.ts';

/** Bytes of an HRBOT_ENCRYPTION_KEY once base64-decoded: an AES-256 key. */
export const ENCRYPTION_KEY_BYTES = 32;
/** What every sealed value starts with; a later format gets a new prefix and this one stays readable. */
const VERSION = 'v1';
/** AES-GCM's recommended nonce size; a fresh random one per seal. */
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed secret could not be opened: sealed under another key, altered, or not a sealed value at all. */
export class SecretBoxError extends HrbotError {
  constructor(code: 'secret_key_mismatch' | 'secret_tampered' | 'secret_malformed', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Why a value is not a usable HRBOT_ENCRYPTION_KEY, or undefined when it is: 32 bytes in standard
 * or URL-safe base64 (`openssl rand -base64 32`). The reason never echoes the value.
 */
export function encryptionKeyProblem(value: string): string | undefined {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return 'must be base64 (letters, digits, + / or - _, = padding only)';
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== ENCRYPTION_KEY_BYTES) return `must decode to ${ENCRYPTION_KEY_BYTES} bytes, but decodes to ${bytes.length}`;
  return undefined;
}

/**
 * Encrypts secrets the bot stores (installed Slack tokens) with AES-256-GCM under HRBOT_ENCRYPTION_KEY.
 * A sealed value reads `v1.<key id>.<iv>.<tag>.<ciphertext>` (base64url parts): the version lets a
 * later format coexist, and the key id (a keyed hash of the key, not the key) tells a changed key apart
 * from a damaged row. `context` is authenticated with the value (e.g. the row it belongs to), so a
 * sealed value copied into another row does not open.
 */
export class SecretBox {
  readonly #key: Buffer;
  /** Identifies the key in sealed values without revealing it. */
  readonly keyId: string;

  /** `keyBase64` as validated by {@link encryptionKeyProblem}; throws SecretBoxError otherwise. */
  constructor(keyBase64: string) {
    const problem = encryptionKeyProblem(keyBase64);
    if (problem !== undefined) throw new SecretBoxError('secret_malformed', `HRBOT_ENCRYPTION_KEY ${problem}`);
    this.#key = Buffer.from(keyBase64.trim(), 'base64');
    this.keyId = createHmac('sha256', this.#key).update('hrbot secret-box key id').digest('base64url').slice(0, 11);
  }

  /** Encrypt `plaintext`, bound to `context`. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.keyId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  /** Whether `sealed` was sealed under this key (by its key id; nothing is decrypted). */
  isOwnKey(sealed: string): boolean {
    return sealed.split('.')[1] === this.keyId;
  }

  /** Decrypt what {@link seal} produced with the same `context`; throws SecretBoxError with a reason an operator can act on. */
  open(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretBoxError('secret_malformed', `not a sealed value of format ${VERSION}`);
    const [, keyId, iv, tag, body] = parts as [string, string, string, string, string];
    if (keyId !== this.keyId) {
      throw new SecretBoxError(
        'secret_key_mismatch',
        `sealed under another HRBOT_ENCRYPTION_KEY (key id ${keyId}; this process has ${this.keyId}): restore the key it was stored with, or install again to store it under the current key`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch (error) {
      // The key is the right one (its id matched), so GCM refusing the tag means the row was altered or moved.
      throw new SecretBoxError('secret_tampered', 'the sealed value does not authenticate: it was altered or moved to another row', { cause: error });
    }
  }
}
