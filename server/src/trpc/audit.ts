import { type AuditAction, type AuditEvent, Op } from '@hdms/db';
import type { WhereOptions } from 'sequelize';
import { z } from 'zod';
import { emptyPage, listPage, pageInput } from '../lib/pagination';
import { idSchema } from '../lib/schemas';
import { roleOrServiceProcedure, roleProcedure } from './procedures';
import { router } from './init';
import { recordAudit } from '../domain/audit/record';
import { auditEventView, myAccessView } from '../domain/audit/views';

const AUDIT_ACTIONS = [
  'read',
  'create',
  'update',
  'link',
  'revoke',
  'denied',
] as const satisfies readonly AuditAction[];

const auditListInput = pageInput
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
  list: roleOrServiceProcedure('admin')
    .meta({
      description:
        'Audit rows (reading them is audited too), newest first, a page at a time (cursor = the last id seen), filtered by patientId, actorType (+ actorId), action and a created-at range (`from` inclusive, `to` exclusive). Admins and services with audit:read.',
      scope: 'audit:read',
    })
    .input(auditListInput.default({}))
    .query(async ({ ctx, input }) => {
      const where: WhereOptions<AuditEvent>[] = [];
      if (input.patientId !== undefined) where.push({ patientId: input.patientId });
      if (input.actorType !== undefined) where.push({ actorType: input.actorType });
      if (input.actorId !== undefined) where.push({ actorId: input.actorId });
      if (input.action !== undefined) where.push({ action: input.action });
      if (input.from) where.push({ createdAt: { [Op.gte]: input.from } });
      if (input.to) where.push({ createdAt: { [Op.lt]: input.to } });
      const page = await listPage(
        ctx.db.models.AuditEvent,
        input,
        { where, direction: 'desc' },
        auditEventView,
      );
      // Reading the trail is itself on the trail (on the patient, when the reader filtered by one).
      await recordAudit(ctx, { action: 'read', patientIds: input.patientId ? [input.patientId] : [] });
      return page;
    }),

  myAccess: roleProcedure('patient')
    .meta({
      description:
        'Who read or changed my record (patient; refused attempts are for admins): actor name and role, action, procedure and time, newest first, a page at a time. An account not yet linked to a patient record gets an empty list.',
    })
    .input(pageInput.default({}))
    .query(({ ctx, input }) => {
      const { patientId } = ctx.actor;
      if (patientId === null) return emptyPage<ReturnType<typeof myAccessView>>();
      return listPage(
        ctx.db.models.AuditEvent,
        input,
        { where: [{ patientId }, { action: { [Op.ne]: 'denied' } }], direction: 'desc' },
        myAccessView,
      );
    }),
});
