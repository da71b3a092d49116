import type { Database, Role, Transaction } from '@hdms/db';
import { databaseFailureOf, usersRepo } from '@hdms/db';
import { conflict } from '../domain/errors';
import { hashPassword } from './password';

/** An account as stored (`usersRepo.UserRow`), password hash included. */
export type Account = usersRepo.UserRow;

/** Finds an account by username or email, case-insensitively. */
export function findAccount(db: Database, identifier: string): Promise<Account | null> {
  const key = identifier.trim().toLowerCase();
  return key.includes('@') ? usersRepo.findByEmail(db, key) : usersRepo.findByUsernameKey(db, key);
}

/**
 * Creates an account with an argon2id password hash. A username or email already taken (in any
 * letter case) is a CONFLICT that names which.
 */
export async function createAccount(
  db: Database,
  input: { username: string; email: string; password: string; role: Role },
  transaction?: Transaction,
): Promise<Account> {
  const usernameKey = input.username.toLowerCase();
  const email = input.email.toLowerCase();
  const taken = async () => {
    if (await usersRepo.findByUsernameKey(db, usernameKey, { tx: transaction })) {
      return conflict('That username is already taken');
    }
    if (await usersRepo.findByEmail(db, email, { tx: transaction })) {
      return conflict('That email is already registered');
    }
    return null;
  };
  const clash = await taken();
  if (clash) throw clash;
  const passwordHash = await hashPassword(input.password);
  try {
    return await usersRepo.insert(
      db,
      { role: input.role, username: input.username, usernameKey, email, passwordHash },
      { tx: transaction },
    );
  } catch (error) {
    if (databaseFailureOf(error) === 'duplicate') throw (await taken()) ?? error;
    throw error;
  }
}
