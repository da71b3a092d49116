import { resetUserMfa } from '../domain/mfa/commands';
import { resetMfaInput } from '../domain/mfa/schemas';
import { linkUser, listUsers, setUserDisabled } from '../domain/users/commands';
import { linkInput, listUsersInput, setDisabledInput } from '../domain/users/schemas';
import { router } from './init';
import { roleProcedure } from './procedures';

/** Accounts (admin only): list them, link them to their records, disable them, reset their MFA. */
export const usersRouter = router({
  list: roleProcedure('admin')
    .meta({
      description:
        'Accounts by id, a page at a time (cursor = the last id seen). `search` matches username or email; `role` filters.',
    })
    .input(listUsersInput.default({}))
    .query(({ ctx, input }) => listUsers(ctx, input)),

  link: roleProcedure('admin')
    .meta({
      description:
        'Link a doctor account to its Doctor record ({ userId, doctorId }) or a patient account to its Patient record ({ userId, patientId }). Each record has at most one account.',
    })
    .input(linkInput)
    .mutation(({ ctx, input }) => linkUser(ctx, input)),

  setDisabled: roleProcedure('admin')
    .meta({
      description:
        'Disable an account (ends all its sessions; it can no longer sign in) or enable it again. Admins cannot disable themselves.',
    })
    .input(setDisabledInput)
    .mutation(({ ctx, input }) => setUserDisabled(ctx, input)),

  resetMfa: roleProcedure('admin')
    .meta({
      description:
        "Turn an account's MFA off (a lost phone and lost recovery codes): its secret and recovery codes are deleted and its sessions end. It signs in with its password alone until it enrolls again.",
    })
    .input(resetMfaInput)
    .mutation(({ ctx, input }) => resetUserMfa(ctx, input.userId)),
});
