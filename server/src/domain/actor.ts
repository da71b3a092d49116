import type { Role } from '@hdms/db';
import type { Scope } from './access/tokenScopes';

/** A signed-in person, through a session; `R` narrows the role (see the procedure tiers). */
export interface UserActor<R extends Role = Role> {
  type: 'user';
  id: number;
  role: R;
  username: string;
  email: string;
  /** The Doctor record this account is linked to (doctors), if any. */
  doctorId: number | null;
  /** The Patient record this account is linked to (patients), if any. */
  patientId: number | null;
  /** Whether the account signs in with a confirmed second factor (MFA), as it is now. */
  mfaEnabled: boolean;
  /** The session token this request came with. */
  sessionToken: string;
}

/** An internal service, through a service token. */
export interface ServiceActor {
  type: 'service';
  id: number;
  name: string;
  scopes: Scope[];
}

/** Whoever makes a request, or a job runs as. */
export type Actor = UserActor | ServiceActor;

/** How audit rows and revisions name an actor: the username or the service token's name. */
export function actorName(actor: Actor): string {
  return actor.type === 'user' ? actor.username : actor.name;
}
