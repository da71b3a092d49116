import { createRequire } from 'node:module';

/**
 * The password policy (NIST SP 800-63B 5.1.1.2): 8-256 characters and no composition rules (the
 * schemas' length check), and a password is refused when it is
 * - in a list of commonly used passwords: the common-password dictionary shipped with
 *   `@zxcvbn-ts/language-common` (about 49,000 entries, compared ignoring letter case), used as
 *   a plain lookup, not a strength score; or
 * - contains the account's username, or the part of its email before the `@` (ignoring letter
 *   case), when that part has at least `MIN_NAME_PART` characters.
 * Each refusal says which rule it is, so that the person can choose better.
 */

/** The rule a refused password breaks. */
export type PasswordRule = 'common' | 'username' | 'email';

/** Why a password is refused: the rule, and the reason in words (after "password ..."). */
export interface PasswordProblem {
  rule: PasswordRule;
  message: string;
}

/** The account a password is for: its username and email, where known. */
export interface PasswordOwner {
  username?: string | null;
  email?: string | null;
}

/** Names shorter than this are too common as substrings to refuse passwords over (`bob`). */
const MIN_NAME_PART = 4;

/** The reasons in words, completing "password ...". */
export const PASSWORD_MESSAGES: Record<PasswordRule, string> = {
  common: 'is too common: it is in a list of commonly used passwords; choose a less guessable one',
  username: 'must not contain the username',
  email: 'must not contain the part of the email address before the @',
};

let common: ReadonlySet<string> | null = null;

/**
 * The common passwords, lower-cased, loaded on first use and kept (a few megabytes that servers
 * which never check a password, such as job worker threads, do not pay for).
 */
function commonPasswords(): ReadonlySet<string> {
  if (!common) {
    const load = createRequire(import.meta.url);
    const { dictionary } = load('@zxcvbn-ts/language-common') as {
      dictionary: Record<string, string[] | undefined>;
    };
    common = new Set((dictionary['passwords-common'] ?? []).map((entry) => entry.toLowerCase()));
  }
  return common;
}

/** How many passwords the common-password list holds. */
export function commonPasswordCount(): number {
  return commonPasswords().size;
}

/** Whether `password` is in the list of common passwords (ignoring letter case). */
export function isCommonPassword(password: string): boolean {
  return commonPasswords().has(password.toLowerCase());
}

/** Why `password` is refused for `owner`, or null when the policy accepts it (length aside). */
export function passwordProblem(password: string, owner: PasswordOwner = {}): PasswordProblem | null {
  if (isCommonPassword(password)) return { rule: 'common', message: PASSWORD_MESSAGES.common };
  const lower = password.toLowerCase();
  const contains = (part: string | null | undefined) =>
    part !== null && part !== undefined && part.length >= MIN_NAME_PART && lower.includes(part.toLowerCase());
  if (contains(owner.username?.trim())) return { rule: 'username', message: PASSWORD_MESSAGES.username };
  const email = owner.email?.trim();
  const at = email ? email.lastIndexOf('@') : -1;
  if (email && at > 0 && contains(email.slice(0, at))) {
    return { rule: 'email', message: PASSWORD_MESSAGES.email };
  }
  return null;
}
