import type { Role, usersRepo } from '@hdms/db';
import type { AuditTarget } from '../audit/record';

/** An account as clients see it: never the password hash. */
export interface UserView {
  id: number;
  username: string;
  email: string;
  role: Role;
  doctorId: number | null;
  patientId: number | null;
  disabled: boolean;
  /** Whether the account signs in with a second factor (MFA). */
  mfaEnabled: boolean;
  createdAt: Date;
}

/** The stored fields a `UserView` is made of. */
type ViewedFields = Pick<
  usersRepo.UserRow,
  'id' | 'username' | 'email' | 'role' | 'doctorId' | 'patientId' | 'disabledAt' | 'createdAt'
>;

/** Maps an account row, and whether its MFA is on, to its client view with an explicit field list. */
export function userView(user: ViewedFields, mfaEnabled: boolean): UserView {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    role: user.role,
    doctorId: user.doctorId ?? null,
    patientId: user.patientId ?? null,
    disabled: user.disabledAt !== null && user.disabledAt !== undefined,
    mfaEnabled,
    createdAt: user.createdAt,
  };
}

/** How audit rows name an account. */
export function userTarget(user: Pick<usersRepo.UserRow, 'id' | 'username'>): AuditTarget {
  return { type: 'user', id: user.id, name: user.username };
}
