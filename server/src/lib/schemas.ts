import { z } from 'zod';

/**
 * Field schemas shared by several domains. Text never holds NUL or other control characters
 * (tab and line breaks only where the text is multi-line): they have no meaning in a record and
 * some databases cannot store them.
 */

/** True when `text` holds a control character; `allowLayout` lets tab and line breaks pass. */
function hasControl(text: string, allowLayout: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x20 && code !== 0x7f) continue;
    if (allowLayout && (code === 0x09 || code === 0x0a || code === 0x0d)) continue;
    return true;
  }
  return false;
}

/** One line of text: trimmed, `min`-`max` characters, no control characters. */
export function lineText(max: number, min = 1) {
  return z
    .string()
    .trim()
    .min(min, min === 1 ? 'is required' : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !hasControl(v, false), 'must not contain control characters');
}

/** Multi-line text (notes, clinical fields): up to `max` characters, no control characters but tab and line breaks. */
export function longText(max: number) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !hasControl(v, true), 'must not contain control characters');
}

/** Usernames: 3-80 letters, digits, `_ . -`. */
export const usernameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{3,80}$/, 'must be 3-80 letters, digits, _ . or -');

/** Email addresses, stored lower-cased. */
export const emailSchema = z
  .string()
  .trim()
  .max(254)
  .email('must be a valid email address')
  .transform((v) => v.toLowerCase());

/** Passwords: 8-256 characters, no composition rules (a NUL byte is refused like any control character). */
export const passwordSchema = z
  .string()
  .min(8, 'must be at least 8 characters')
  .max(256)
  .refine((v) => !v.includes('\u0000'), 'must not contain NUL characters');

/** A database id: a positive whole number that fits the 32-bit id columns. */
export const idSchema = z.number().int().positive().max(2_147_483_647, 'is not a known id');

/** The largest batch a `createMany` accepts. */
const MAX_BATCH_ITEMS = 1000;

/** An array of `item`s for a `createMany`: 1 to `MAX_BATCH_ITEMS`, all-or-nothing. */
export function batchOf<T extends z.ZodTypeAny>(item: T) {
  return z
    .array(item)
    .min(1, 'must hold at least one item')
    .max(MAX_BATCH_ITEMS, `must hold at most ${MAX_BATCH_ITEMS} items`);
}
