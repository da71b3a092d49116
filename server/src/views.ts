import type { Role, User } from '@hdms/db';

/** An account as clients see it: never the password hash. */
export interface UserView {
  id: number;
  username: string;
  email: string;
  role: Role;
  doctorId: number | null;
  patientId: number | null;
  disabled: boolean;
  createdAt: Date;
}

/** Maps a `User` row to its client view with an explicit field list. */
export function userView(user: User): UserView {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    role: user.role,
    doctorId: user.doctorId ?? null,
    patientId: user.patientId ?? null,
    disabled: user.disabledAt !== null && user.disabledAt !== undefined,
    createdAt: user.createdAt,
  };
}
