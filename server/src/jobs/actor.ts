import { type Database, serviceTokensRepo, type Transaction, usersRepo } from '@hdms/db';
import type { Scope } from '../domain/access/policy';
import { type Actor, actorName } from '../domain/actor';
import { forbidden } from '../domain/errors';
import type { JobOwner } from './types';

/** The owner a job records for the actor who asks for it. */
export function jobOwnerOf(actor: Actor): JobOwner {
  return { type: actor.type, id: actor.id, name: actorName(actor) };
}

/**
 * The actor a job runs as, rebuilt from its stored owner as they are now: a user's current role and
 * links are read again (a link revoked since the job was accepted is respected), a service token's
 * current scopes. A disabled or deleted account, or a revoked or expired token, may no longer act:
 * FORBIDDEN (the job fails without retry). System jobs have no actor.
 */
export async function actorOfJobOwner(
  db: Database,
  owner: JobOwner,
  transaction?: Transaction,
): Promise<Actor> {
  if (owner.type === 'user') {
    const user = await usersRepo.findProfile(db, owner.id, { tx: transaction });
    if (!user) throw forbidden('The account that started this job no longer exists');
    if (user.disabledAt) throw forbidden('The account that started this job is disabled');
    return {
      type: 'user',
      id: user.id,
      role: user.role,
      username: user.username,
      email: user.email,
      doctorId: user.doctorId,
      patientId: user.patientId,
      mfaEnabled: user.mfaEnabled,
      sessionToken: '',
    };
  }
  if (owner.type === 'service') {
    const token = await serviceTokensRepo.findById(db, owner.id, { tx: transaction });
    if (!token) throw forbidden('The service token that started this job no longer exists');
    if (token.revokedAt) throw forbidden('The service token that started this job has been revoked');
    if (token.expiresAt.getTime() <= Date.now()) {
      throw forbidden('The service token that started this job has expired');
    }
    return { type: 'service', id: token.id, name: token.name, scopes: token.scopes as Scope[] };
  }
  throw forbidden('System jobs do not act on behalf of anyone');
}
