import type { AuditAction } from '@hdms/db';
import { z } from 'zod';
import { pageInput } from '../lib/pagination';
import { idSchema } from '../lib/schemas';
import { roleOrServiceProcedure, roleProcedure } from './procedures';
import { router } from './init';
import { listAudit, listMyAccess } from '../domain/audit/queries';
import { emergencyListInput, listEmergencyAccesses } from '../domain/emergency/index';

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
    actorType: z.enum(['user', 'service', 'anonymous', 'command']).optional(),
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
    .query(({ ctx, input }) => listAudit(ctx, input)),

  myAccess: roleProcedure('patient')
    .meta({
      description:
        'Who read or changed my record (patient; refused attempts are for admins): actor name and role, action, procedure and time, newest first, a page at a time; an access under emergency access has `emergency: true` and the `reason` given. An account not yet linked to a patient record gets an empty list.',
    })
    .input(pageInput.default({}))
    .query(({ ctx, input }) => listMyAccess(ctx, input)),

  emergencyAccess: roleOrServiceProcedure('admin')
    .meta({
      description:
        'Emergency (break-the-glass) accesses, newest first, a page at a time (cursor = the last id seen): patient, doctor, the account that opened it, reason, opened, expires, ended, and `status` (open, expired, ended). Filters: patientId, doctorId, status; `search` matches the names and the reason. Admins and services with audit:read; reading it is audited.',
      scope: 'audit:read',
    })
    .input(emergencyListInput.default({}))
    .query(({ ctx, input }) => listEmergencyAccesses(ctx, input)),
});
