import { type AuditAction, type AuditEvent, Op } from '@hdms/db';
import type { WhereOptions } from 'sequelize';
import { z } from 'zod';
import { roleProcedure } from '../procedures/index';
import { router } from '../trpc';
import { idBefore, idSchema, listInput, page } from '../validation';

/**
 * One audit row as admins and audit services see it: who, what kind of act, on which patient,
 * through which procedure, when. Audit rows hold no clinical content.
 */
export interface AuditEventView {
  id: number;
  actorType: string;
  actorId: number | null;
  actorName: string;
  actorRole: string;
  action: AuditAction;
  patientId: number | null;
  procedure: string;
  requestId: string;
  ip: string | null;
  createdAt: Date;
}

/** One access to a patient's own record, as that patient sees it. */
export interface MyAccessView {
  id: number;
  actorName: string;
  actorRole: string;
  action: AuditAction;
  procedure: string;
  createdAt: Date;
}

/** Maps an `AuditEvent` row to the admin view with an explicit field list. */
export function auditEventView(row: AuditEvent): AuditEventView {
  return {
    id: row.id,
    actorType: row.actorType,
    actorId: row.actorId ?? null,
    actorName: row.actorName,
    actorRole: row.actorRole,
    action: row.action,
    patientId: row.patientId ?? null,
    procedure: row.procedure,
    requestId: row.requestId,
    ip: row.ip ?? null,
    createdAt: row.createdAt,
  };
}

/** Maps an `AuditEvent` row to the patient's view: who and what, not request details. */
export function myAccessView(row: AuditEvent): MyAccessView {
  return {
    id: row.id,
    actorName: row.actorName,
    actorRole: row.actorRole,
    action: row.action,
    procedure: row.procedure,
    createdAt: row.createdAt,
  };
}

const AUDIT_ACTIONS = [
  'read',
  'create',
  'update',
  'link',
  'revoke',
] as const satisfies readonly AuditAction[];

const auditListInput = listInput
  .omit({ search: true })
  .extend({
    patientId: idSchema.optional(),
    actorType: z.enum(['user', 'service', 'anonymous']).optional(),
    actorId: idSchema.optional(),
    action: z.enum(AUDIT_ACTIONS).optional(),
    from: z.date().optional(),
    to: z.date().optional(),
  })
  .strict()
  .refine((v) => v.actorId === undefined || v.actorType !== undefined, {
    message: 'is required with actorId (user and service ids overlap)',
    path: ['actorType'],
  })
  .refine((v) => !(v.from && v.to && v.from > v.to), {
    message: 'from must not be after to',
    path: ['from'],
  });

/**
 * The audit trail: read-only through the API (there is no procedure that changes or deletes a
 * row). Pages run newest first by id, served by the primary key and the
 * `(patient_id, id)` and `(actor_type, actor_id, id)` indexes.
 */
export const auditRouter = router({
  list: roleProcedure('admin')
    .meta({
      description:
        'Audit rows, newest first, a page at a time (cursor = the last id seen), filtered by patientId, actorType (+ actorId), action and a created-at range (`from` inclusive, `to` exclusive). Admins and services with audit:read.',
      scope: 'audit:read',
    })
    .input(auditListInput.default({}))
    .query(async ({ ctx, input }) => {
      const conditions: WhereOptions<AuditEvent>[] = [idBefore(input.cursor)];
      if (input.patientId !== undefined) conditions.push({ patientId: input.patientId });
      if (input.actorType !== undefined) conditions.push({ actorType: input.actorType });
      if (input.actorId !== undefined) conditions.push({ actorId: input.actorId });
      if (input.action !== undefined) conditions.push({ action: input.action });
      if (input.from) conditions.push({ createdAt: { [Op.gte]: input.from } });
      if (input.to) conditions.push({ createdAt: { [Op.lt]: input.to } });
      const rows = await ctx.db.models.AuditEvent.findAll({
        where: { [Op.and]: conditions },
        order: [['id', 'DESC']],
        limit: input.limit + 1,
      });
      return page(rows.map(auditEventView), input.limit);
    }),

  myAccess: roleProcedure('patient')
    .meta({
      description:
        'Who read or changed my record (patient): actor name and role, action, procedure and time, newest first, a page at a time. An account not yet linked to a patient record gets an empty list.',
    })
    .input(listInput.omit({ search: true }).strict().default({}))
    .query(async ({ ctx, input }) => {
      const patientId = ctx.actor.type === 'user' ? ctx.actor.patientId : null;
      if (patientId === null) return { items: [] as MyAccessView[], nextCursor: null };
      const rows = await ctx.db.models.AuditEvent.findAll({
        where: { [Op.and]: [{ patientId }, idBefore(input.cursor)] },
        order: [['id', 'DESC']],
        limit: input.limit + 1,
      });
      return page(rows.map(myAccessView), input.limit);
    }),
});
