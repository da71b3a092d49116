import { type CheckHistory, Op } from '@hdms/db';
import type { Attributes, WhereOptions } from 'sequelize';
import { z } from 'zod';
import { findPatientInScope, patientIdsInScope } from '../domain/access/policy';
import type { ProcedureContext } from '../context';
import { badInput, badRequest, notFound } from '../domain/errors';
import { keysetBefore, listPage, pageInput } from '../lib/pagination';
import { batchOf, idSchema } from '../lib/schemas';
import { authedProcedure, rejectArray, roleOrServiceProcedure } from './procedures';
import { recordEvents } from '../domain/events/record';
import { router } from './init';
import { recordAudit } from '../domain/audit/record';

/** One check-up of a patient, as clients see it. */
export interface CheckView {
  id: number;
  patientId: number;
  checkTime: Date;
}

/** Maps a `CheckHistory` row to its client view with an explicit field list. */
export function checkView(row: Attributes<CheckHistory>): CheckView {
  return { id: row.id, patientId: row.patientId, checkTime: row.checkTime };
}

/** How far ahead of the server's clock a check time may be (clock skew between devices). */
const MAX_FUTURE_SKEW_MS = 5 * 60_000;
const EARLIEST_CHECK_TIME = new Date('1900-01-01T00:00:00Z');

const checkTime = z
  .date({
    errorMap: (issue, ctx) => ({
      message: issue.code === 'invalid_date' ? 'must be a valid ISO 8601 date' : ctx.defaultError,
    }),
  })
  .min(EARLIEST_CHECK_TIME, 'must not be before 1900')
  .refine((d) => d.getTime() <= Date.now() + MAX_FUTURE_SKEW_MS, {
    message: 'must not be more than 5 minutes in the future',
  });

/** One check-up to record: `checkTime` absent or null means now (UTC). */
export const checkInput = z.object({ patientId: idSchema, checkTime: checkTime.nullish() }).strict();
/** Check-ups to record in one all-or-nothing batch. */
export const checksInput = batchOf(checkInput);

const listChecksInput = pageInput
  .extend({ patientId: idSchema, from: z.date().optional(), to: z.date().optional() })
  .strict()
  .refine((v) => !(v.from && v.to && v.from > v.to), {
    message: 'from must not be after to',
    path: ['from'],
  });

/**
 * Records check-ups in one transaction with their audit rows, all or none. Every patient must be
 * in the actor's write scope (and stays while we write: the rows are share-locked); the first
 * one that is not fails the batch, named by `missing(index)`.
 */
async function recordChecks(
  ctx: ProcedureContext,
  items: z.output<typeof checkInput>[],
  missing: (index: number) => Error,
): Promise<CheckView[]> {
  const now = new Date();
  return ctx.db.transaction(async (tx) => {
    const ids = items.map((item) => item.patientId);
    const known = await patientIdsInScope(ctx.db.models, ctx.actor, ids, {
      scope: 'checkHistory:write',
      transaction: tx,
      lock: 'share',
    });
    const index = items.findIndex((item) => !known.has(item.patientId));
    if (index >= 0) throw missing(index);
    const rows = await ctx.db.models.CheckHistory.bulkCreate(
      items.map((item) => ({ patientId: item.patientId, checkTime: item.checkTime ?? now })),
      { transaction: tx },
    );
    await recordAudit(ctx, { action: 'create', patientIds: ids }, tx);
    await recordEvents(
      tx,
      rows.map((row) => ({ type: 'checkHistory.created', entityId: row.id, patientId: row.patientId })),
    );
    return rows.map(checkView);
  });
}

/** When a patient was checked: doctors record check-ups, the care team and the patient read them. */
export const checkHistoryRouter = router({
  create: roleOrServiceProcedure('admin', 'doctor')
    .meta({
      description:
        'Record one check-up `{ patientId, checkTime? }` (admin: any patient; doctor: own patients). `checkTime` defaults to now (UTC) and may be at most 5 minutes ahead. For several at once, use createMany.',
      scope: 'checkHistory:write',
    })
    .use(rejectArray('checkHistory.createMany'))
    .input(checkInput)
    .mutation(async ({ ctx, input }) => (await recordChecks(ctx, [input], () => notFound('Patient')))[0]!),

  createMany: roleOrServiceProcedure('admin', 'doctor')
    .meta({
      description:
        "Record an array of check-ups, all or nothing: an unknown or out-of-scope patient rejects the batch, naming the item's index.",
      scope: 'checkHistory:write',
    })
    .input(checksInput)
    .mutation(({ ctx, input }) =>
      recordChecks(ctx, input, (index) => badInput([index, 'patientId'], 'Patient not found')),
    ),

  list: authedProcedure
    .meta({
      description:
        "A patient's check-ups, newest check time first, a page at a time (cursor = the last id seen). `from` (inclusive) and `to` (exclusive) bound the check time. For the patient's doctor, the patient, admins (check times are admission data) and services with checkHistory:read.",
      scope: 'checkHistory:read',
    })
    .input(listChecksInput)
    .query(async ({ ctx, input }) => {
      const { CheckHistory } = ctx.db.models;
      const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.patientId, {
        scope: 'checkHistory:read',
        attributes: ['id'],
      });
      const where: WhereOptions<CheckHistory>[] = [{ patientId: patient.id }];
      if (input.from) where.push({ checkTime: { [Op.gte]: input.from } });
      if (input.to) where.push({ checkTime: { [Op.lt]: input.to } });
      let after: WhereOptions | null = null;
      if (input.cursor) {
        const last = await CheckHistory.findOne({
          attributes: ['id', 'checkTime'],
          where: { id: input.cursor, patientId: patient.id },
        });
        if (!last) throw badRequest('cursor is not from this list');
        after = keysetBefore('checkTime', last.checkTime, last.id);
      }
      const order: [string, string][] = [
        ['checkTime', 'DESC'],
        ['id', 'DESC'],
      ];
      const result = await listPage(CheckHistory, input, { where, keyset: { order, after } }, checkView);
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
      return result;
    }),
});
