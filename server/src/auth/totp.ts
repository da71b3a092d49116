import { randomBytes, randomInt } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import { sha256Hex } from './tokens';

/**
 * The second sign-in factor's primitives: TOTP (RFC 6238: 30-second steps, 6 digits, HMAC-SHA-1,
 * as every authenticator app reads an `otpauth://` URI) by `otpauth`, its enrollment QR code (SVG)
 * by `qrcode`, recovery codes and sign-in challenge tokens. No rules here: `domain/mfa/` decides
 * when a code counts.
 */

/** RFC 6238 parameters, the ones authenticator apps assume. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
const TOTP_ALGORITHM = 'SHA1';
/** Codes of one step either side of the current one are accepted (a phone's clock a little off). */
export const TOTP_DRIFT_STEPS = 1;

/** How many recovery codes an account gets when it turns MFA on. */
export const RECOVERY_CODE_COUNT = 10;
/** Recovery code characters: lower-case letters and digits without look-alikes (0/o, 1/l/i). */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
/** 16 characters of 31: about 79 random bits, written `xxxx-xxxx-xxxx-xxxx`. */
const RECOVERY_LENGTH = 16;

/** A new TOTP secret: 160 random bits (RFC 4226's recommendation), base32 as apps take it. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totp(secret: string, label = 'account', issuer = 'HDMS'): TOTP {
  return new TOTP({
    issuer,
    label,
    secret: Secret.fromBase32(secret),
    algorithm: TOTP_ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  });
}

/** The `otpauth://totp/...` URI an authenticator app enrolls from (what the QR code holds). */
export function totpUri(secret: string, account: { label: string; issuer: string }): string {
  return totp(secret, account.label, account.issuer).toString();
}

/** The TOTP time step of an instant (epoch ms): a 30-second count since 1970. */
export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code of `secret` for the step holding `nowMs` (what an authenticator app shows then). */
export function totpCode(secret: string, nowMs: number): string {
  return totp(secret).generate({ timestamp: nowMs });
}

/**
 * The time step `code` belongs to if it is a code of `secret` within the allowed drift of
 * `nowMs`, else null (compared in constant time).
 */
export function matchTotp(secret: string, code: string, nowMs: number): number | null {
  const delta = totp(secret).validate({ token: code, timestamp: nowMs, window: TOTP_DRIFT_STEPS });
  return delta === null ? null : totpStep(nowMs) + delta;
}

/** A QR code of `text` as an SVG document, for the enrollment screen. */
export function qrSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/** New recovery codes, `xxxx-xxxx-xxxx-xxxx`, each about 79 random bits. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    let code = '';
    for (let i = 0; i < RECOVERY_LENGTH; i++) {
      if (i > 0 && i % 4 === 0) code += '-';
      code += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
    }
    return code;
  });
}

/**
 * A recovery code as typed, in the one form its digest is taken of (lower case, without spaces or
 * dashes), or null when it cannot be one.
 */
export function normalizeRecoveryCode(typed: string): string | null {
  const code = typed.toLowerCase().replace(/[\s-]/g, '');
  if (code.length !== RECOVERY_LENGTH) return null;
  for (const ch of code) if (!RECOVERY_ALPHABET.includes(ch)) return null;
  return code;
}

/** How a recovery code is stored: the SHA-256 of its normalized form (it holds ~79 random bits). */
export function recoveryCodeHash(normalized: string): string {
  return sha256Hex(`hdms-recovery\n${normalized}`);
}

/** A sign-in challenge token: 256 random bits, hex. Only its SHA-256 is stored. */
export function newChallengeToken(): string {
  return randomBytes(32).toString('hex');
}
