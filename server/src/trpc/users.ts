import type { Attributes } from 'sequelize';
import { ROLES, type Role, type User } from '@hdms/db';
import { z } from 'zod';
import { badRequest, conflict, forbidden, notFound } from '../domain/errors';
import { listInput, listPage } from '../lib/pagination';
import { idSchema } from '../lib/schemas';
import { containsText } from '../lib/search';
import { roleProcedure } from './procedures';
import { router } from './init';
import { type AuditTarget, recordAudit } from '../domain/audit/record';
import { recordEvent } from '../domain/events/record';

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
export function userView(user: Attributes<User>): UserView {
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

/** How audit rows name an account. */
function userTarget(user: User): AuditTarget {
  return { type: 'user', id: user.id, name: user.username };
}

/** `users.link` input: a user and exactly one record to link it to. */
export const linkInput = z.union(
  [
    z.object({ userId: idSchema, doctorId: idSchema }).strict(),
    z.object({ userId: idSchema, patientId: idSchema }).strict(),
  ],
  {
    errorMap: (issue, ctx) => ({
      message:
        issue.code === 'invalid_union'
          ? 'needs a userId and exactly one of doctorId or patientId (positive whole numbers)'
          : ctx.defaultError,
    }),
  },
);

/** Accounts (admin only): list them, link them to their records, disable them. */
export const usersRouter = router({
  list: roleProcedure('admin')
    .meta({
      description:
        'Accounts by id, a page at a time (cursor = the last id seen). `search` matches username or email; `role` filters.',
    })
    .input(listInput.extend({ role: z.enum(ROLES).optional() }).default({}))
    .query(({ ctx, input }) =>
      listPage(
        ctx.db.models.User,
        input,
        {
          where: [
            input.role ? { role: input.role } : {},
            input.search ? containsText(['username', 'email'], input.search) : {},
          ],
        },
        userView,
      ),
    ),

  link: roleProcedure('admin')
    .meta({
      description:
        'Link a doctor account to its Doctor record ({ userId, doctorId }) or a patient account to its Patient record ({ userId, patientId }). Each record has at most one account.',
    })
    .input(linkInput)
    .mutation(async ({ ctx, input }) => {
      const { models } = ctx.db;
      const toDoctor = 'doctorId' in input;
      return ctx.db.transaction(async (tx) => {
        const user = await models.User.findByPk(input.userId, { transaction: tx, lock: tx.LOCK.UPDATE });
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
        const record = toDoctor
          ? await models.Doctor.findByPk(recordId, { transaction: tx, attributes: ['id'] })
          : await models.Patient.findByPk(recordId, { transaction: tx, attributes: ['id'] });
        if (!record) throw notFound(toDoctor ? 'Doctor' : 'Patient');
        const holder = await models.User.findOne({
          where: toDoctor ? { doctorId: recordId } : { patientId: recordId },
          attributes: ['id'],
          transaction: tx,
        });
        if (holder && holder.id !== user.id) {
          throw conflict(`That ${expected} record is already linked to another account`);
        }
        await user.update(toDoctor ? { doctorId: recordId } : { patientId: recordId }, { transaction: tx });
        await recordAudit(
          ctx,
          { action: 'link', patientIds: toDoctor ? [] : [recordId], targets: [userTarget(user)] },
          tx,
        );
        await recordEvent(tx, { type: 'account.changed', entityId: user.id });
        return userView(user);
      });
    }),

  setDisabled: roleProcedure('admin')
    .meta({
      description:
        'Disable an account (ends all its sessions; it can no longer sign in) or enable it again. Admins cannot disable themselves.',
    })
    .input(z.object({ userId: idSchema, disabled: z.boolean() }).strict())
    .mutation(async ({ ctx, input }) => {
      if (input.disabled && ctx.actor.id === input.userId) {
        throw forbidden('You cannot disable your own account');
      }
      const user = await ctx.db.transaction(async (tx) => {
        const found = await ctx.db.models.User.findByPk(input.userId, {
          transaction: tx,
          lock: tx.LOCK.UPDATE,
        });
        if (!found) throw notFound('User');
        const disabledAt = input.disabled ? (found.disabledAt ?? new Date()) : null;
        await found.update({ disabledAt }, { transaction: tx });
        await recordAudit(ctx, { action: 'update', targets: [userTarget(found)] }, tx);
        await recordEvent(tx, { type: 'account.changed', entityId: found.id });
        return found;
      });
      if (input.disabled) await ctx.sessions.invalidateUser(user.id);
      return userView(user);
    }),
});
