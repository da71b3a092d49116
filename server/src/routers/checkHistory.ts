import { type CheckHistory, Op, type Patient } from '@hdms/db';
import { TRPCError } from '@trpc/server';
import type { WhereOptions } from 'sequelize';
import { z } from 'zod';
import { findPatientInScope, patientScope } from '../access';
import { recordAudit } from '../audit';
import { badItem, keysetBefore } from '../clinical';
import { notFound } from '../errors';
import { authedProcedure, roleProcedure } from '../procedures/index';
import { router } from '../trpc';
import { idSchema, listInput, oneOrMany, page } from '../validation';

/** One check-up of a patient, as clients see it. */
export interface CheckView {
  id: number;
  patientId: number;
  checkTime: Date;
}

/** Maps a `CheckHistory` row to its client view with an explicit field list. */
export function checkView(row: CheckHistory): CheckView {
  return { id: row.id, patientId: row.patientId, checkTime: row.checkTime };
}

/** How far ahead of the server's clock a check time may be (clock skew between devices). */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;
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

const checkInput = z
  .object({
    patientId: idSchema,
    /** Absent or null: now (UTC). */
    checkTime: checkTime.nullish(),
  })
  .strict();

const listChecksInput = listInput
  .omit({ search: true })
  .extend({ patientId: idSchema, from: z.date().optional(), to: z.date().optional() })
  .strict()
  .refine((v) => !(v.from && v.to && v.from > v.to), {
    message: 'from must not be after to',
    path: ['from'],
  });

/** When a patient was checked: doctors record check-ups, the care team and the patient read them. */
export const checkHistoryRouter = router({
  create: roleProcedure('admin', 'doctor')
    .meta({
      description:
        "Record one check-up `{ patientId, checkTime? }` or an array of them (admin: any patient; doctor: own patients). `checkTime` defaults to now (UTC) and may be at most 5 minutes ahead. An array is all-or-nothing: an unknown or out-of-scope patient rejects the batch, naming the item's index.",
      scope: 'checkHistory:write',
    })
    .input(oneOrMany(checkInput))
    .mutation(async ({ ctx, input }) => {
      const items = Array.isArray(input) ? input : [input];
      const now = new Date();
      const created = await ctx.db.transaction(async (tx) => {
        const where = patientScope(ctx.actor, 'checkHistory:write');
        const ids = [...new Set(items.map((item) => item.patientId))];
        const reachable =
          where === null
            ? []
            : await ctx.db.models.Patient.findAll({
                attributes: ['id'],
                where: { [Op.and]: [where, { id: ids }] } as WhereOptions<Patient>,
                transaction: tx,
                lock: tx.LOCK.SHARE,
              });
        const known = new Set(reachable.map((p) => p.id));
        const missing = items.findIndex((item) => !known.has(item.patientId));
        if (missing >= 0) {
          if (!Array.isArray(input)) throw notFound('Patient');
          throw badItem([missing, 'patientId'], 'Patient not found');
        }
        const rows = await ctx.db.models.CheckHistory.bulkCreate(
          items.map((item) => ({ patientId: item.patientId, checkTime: item.checkTime ?? now })),
          { transaction: tx },
        );
        await recordAudit(ctx, { action: 'create', patientIds: ids }, tx);
        return rows.map(checkView);
      });
      return Array.isArray(input) ? created : created[0]!;
    }),

  list: authedProcedure
    .meta({
      description:
        "A patient's check-ups, newest check time first, a page at a time (cursor = the last id seen). `from` (inclusive) and `to` (exclusive) bound the check time. For the patient's doctor, the patient, admins (check times are admission data) and services with checkHistory:read.",
      scope: 'checkHistory:read',
    })
    .input(listChecksInput)
    .query(async ({ ctx, input }) => {
      const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.patientId, {
        scope: 'checkHistory:read',
      });
      const conditions: WhereOptions<CheckHistory>[] = [{ patientId: patient.id }];
      if (input.from) conditions.push({ checkTime: { [Op.gte]: input.from } });
      if (input.to) conditions.push({ checkTime: { [Op.lt]: input.to } });
      if (input.cursor) {
        const last = await ctx.db.models.CheckHistory.findOne({
          attributes: ['id', 'checkTime'],
          where: { id: input.cursor, patientId: patient.id },
        });
        if (!last) throw new TRPCError({ code: 'BAD_REQUEST', message: 'cursor is not from this list' });
        conditions.push(keysetBefore('checkTime', last.checkTime, last.id));
      }
      const rows = await ctx.db.models.CheckHistory.findAll({
        where: { [Op.and]: conditions },
        order: [
          ['checkTime', 'DESC'],
          ['id', 'DESC'],
        ],
        limit: input.limit + 1,
      });
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
      return page(rows.map(checkView), input.limit);
    }),
});
