import { type Tx, usersRepo } from '@hdms/db';
import { createAccount } from '../../auth/accounts';
import type { SessionManager } from '../../auth/sessions';
import type { UserActor } from '../actor';
import type { DomainContext } from '../context';
import { type Page, pageOf } from '../../lib/pagination';
import { recordAudit } from '../audit/record';
import { badInput, badRequest, conflict, forbidden, notFound } from '../errors';
import { recordEvent } from '../events/record';
import { passwordProblem } from './passwordPolicy';
import type { CreateUserInput, LinkInput, ListUsersInput, SetDisabledInput } from './schemas';
import { type UserView, userTarget, userView } from './views';

/**
 * Who administers accounts: an admin, as the users procedures receive it, or an operator's
 * command line (`npm run admin -- link ...`: no actor, `command` names it in the audit trail).
 */
type AdminContext = Pick<DomainContext, 'db' | 'requestId' | 'ip' | 'procedure'> & {
  actor: UserActor<'admin'> | null;
  command?: string;
  sessions: SessionManager;
};

/**
 * Creates an account of any role (`npm run admin -- create-user`), not linked to any record. The
 * password must pass the password policy for this account (`passwordPolicy.ts`); a username or
 * email already taken is a CONFLICT. Audited, and announced as `account.changed`.
 */
export function createUser(ctx: Omit<AdminContext, 'sessions'>, input: CreateUserInput): Promise<UserView> {
  const problem = passwordProblem(input.password, input);
  if (problem) throw badInput(['password'], `password ${problem.message}`);
  return ctx.db.transaction(async (tx) => {
    const user = await createAccount(ctx.db, input, tx);
    await recordAudit(ctx, { action: 'create', targets: [userTarget(user)] }, tx);
    await recordEvent(ctx.db, tx, { type: 'account.changed', entityId: user.id });
    return userView(user, false);
  });
}

/** Accounts by id, a page at a time; `search` matches username or email, `role` filters. */
export async function listUsers(
  ctx: Pick<DomainContext, 'db'>,
  input: ListUsersInput,
): Promise<Page<UserView>> {
  const rows = await usersRepo.listPage(ctx.db, input, {
    role: input.role,
    search: input.search || undefined,
  });
  const mfaOn = await usersRepo.mfaEnabledAmong(
    ctx.db,
    rows.map((row) => row.id),
  );
  return pageOf(rows, input.limit, (row) => userView(row, mfaOn.has(row.id)));
}

/** Whether account `userId`'s MFA is on, in `tx`. */
async function mfaEnabled(ctx: Pick<DomainContext, 'db'>, userId: number, tx: Tx): Promise<boolean> {
  return (await usersRepo.mfaEnabledAmong(ctx.db, [userId], { tx })).has(userId);
}

/**
 * Links a doctor account to its Doctor record or a patient account to its Patient record. The
 * account's role must match the record's kind (admins are never linked), and each record has at
 * most one account (CONFLICT otherwise). Audited, and announced as `account.changed`.
 */
export function linkUser(ctx: AdminContext, input: LinkInput): Promise<UserView> {
  const toDoctor = 'doctorId' in input;
  return ctx.db.transaction(async (tx) => {
    const user = await usersRepo.findById(ctx.db, input.userId, { tx, lock: 'update' });
    if (!user) throw notFound('User');
    const expected = toDoctor ? 'doctor' : 'patient';
    if (user.role !== expected) {
      throw badRequest(
        user.role === 'admin'
          ? 'Admin accounts cannot be linked to a record'
          : `A ${user.role} account can only be linked to a ${user.role} record`,
      );
    }
    const recordId = toDoctor ? input.doctorId : input.patientId;
    if (!(await usersRepo.linkTargetExists(ctx.db, { kind: expected, id: recordId }, { tx }))) {
      throw notFound(toDoctor ? 'Doctor' : 'Patient');
    }
    const link = toDoctor ? { doctorId: recordId } : { patientId: recordId };
    const holder = await usersRepo.findLinkHolder(ctx.db, link, { tx });
    if (holder && holder.id !== user.id) {
      throw conflict(`That ${expected} record is already linked to another account`);
    }
    // A link already in place is not written again (the account's `updatedAt` stays).
    if ((toDoctor ? user.doctorId : user.patientId) !== recordId) {
      await usersRepo.update(ctx.db, user.id, link, { tx });
    }
    await recordAudit(
      ctx,
      { action: 'link', patientIds: toDoctor ? [] : [recordId], targets: [userTarget(user)] },
      tx,
    );
    await recordEvent(ctx.db, tx, { type: 'account.changed', entityId: user.id });
    return userView({ ...user, ...link }, await mfaEnabled(ctx, user.id, tx));
  });
}

/**
 * Disables an account (every session of it ends; it can no longer sign in) or enables it again.
 * An admin cannot disable their own account. Audited, and announced as `account.changed`.
 */
export async function setUserDisabled(ctx: AdminContext, input: SetDisabledInput): Promise<UserView> {
  if (input.disabled && ctx.actor?.id === input.userId) {
    throw forbidden('You cannot disable your own account');
  }
  const user = await ctx.db.transaction(async (tx) => {
    const found = await usersRepo.findById(ctx.db, input.userId, { tx, lock: 'update' });
    if (!found) throw notFound('User');
    const disabledAt = input.disabled ? (found.disabledAt ?? new Date()) : null;
    // An unchanged account is not written (its `updatedAt` stays).
    if (disabledAt !== found.disabledAt) {
      await usersRepo.update(ctx.db, found.id, { disabledAt }, { tx });
    }
    await recordAudit(ctx, { action: 'update', targets: [userTarget(found)] }, tx);
    await recordEvent(ctx.db, tx, { type: 'account.changed', entityId: found.id });
    return userView({ ...found, disabledAt }, await mfaEnabled(ctx, found.id, tx));
  });
  if (input.disabled) await ctx.sessions.invalidateUser(user.id);
  return user;
}
