import type { Database, Role, Transaction, User } from '@hdms/db';
import { UniqueConstraintError } from '@hdms/db';
import { conflict } from '../domain/errors';
import { hashPassword } from './password';

/** Finds an account by username or email, case-insensitively. */
export function findAccount(db: Database, identifier: string): Promise<User | null> {
  const key = identifier.trim().toLowerCase();
  return db.models.User.findOne({ where: key.includes('@') ? { email: key } : { usernameKey: key } });
}

/**
 * Creates an account with an argon2id password hash. A username or email already taken (in any
 * letter case) is a CONFLICT that names which.
 */
export async function createAccount(
  db: Database,
  input: { username: string; email: string; password: string; role: Role },
  transaction?: Transaction,
): Promise<User> {
  const { User } = db.models;
  const usernameKey = input.username.toLowerCase();
  const email = input.email.toLowerCase();
  const taken = async () => {
    if (await User.findOne({ where: { usernameKey }, transaction })) {
      return conflict('That username is already taken');
    }
    if (await User.findOne({ where: { email }, transaction })) {
      return conflict('That email is already registered');
    }
    return null;
  };
  const clash = await taken();
  if (clash) throw clash;
  const passwordHash = await hashPassword(input.password);
  try {
    return await User.create(
      { role: input.role, username: input.username, usernameKey, email, passwordHash },
      { transaction },
    );
  } catch (error) {
    if (error instanceof UniqueConstraintError) throw (await taken()) ?? error;
    throw error;
  }
}
