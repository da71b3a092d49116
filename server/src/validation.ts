import { Op } from '@hdms/db';
import { z } from 'zod';

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

/** Passwords: 8-256 characters, no composition rules. */
export const passwordSchema = z.string().min(8, 'must be at least 8 characters').max(256);

/** A database id. */
export const idSchema = z.number().int().positive();

/** The input of every list procedure: keyset pagination and an optional search. */
export const listInput = z
  .object({
    limit: z.number().int().min(1).max(1000).default(50),
    cursor: idSchema.nullish(),
    search: z.string().trim().max(200).optional(),
  })
  .strict();

/**
 * One object or a non-empty array of them (the original system's batch payloads), at most
 * `max` items.
 */
export function oneOrMany<T extends z.ZodTypeAny>(item: T, max = 1000) {
  return z.union([item, z.array(item).min(1, 'must hold at least one item').max(max)]);
}

/** The keyset condition of the page after `cursor`, ids ascending (nothing on the first page). */
export function idAfter(cursor: number | null | undefined): { id?: { [Op.gt]: number } } {
  return cursor ? { id: { [Op.gt]: cursor } } : {};
}

/** The keyset condition of the page after `cursor`, ids descending (newest first). */
export function idBefore(cursor: number | null | undefined): { id?: { [Op.lt]: number } } {
  return cursor ? { id: { [Op.lt]: cursor } } : {};
}

/** Keyset page: asks for one row more than `limit` to know whether there is a next page. */
export function page<T extends { id: number }>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor: number | null } {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? (items[items.length - 1]?.id ?? null) : null };
}
