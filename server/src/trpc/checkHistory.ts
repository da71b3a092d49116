import {
  checkInput,
  checksInput,
  listChecks,
  listChecksInput,
  recordChecks,
} from '../domain/checkHistory/index';
import { router } from './init';
import { authedProcedure, rejectArray, roleOrServiceProcedure } from './procedures';

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
    .mutation(async ({ ctx, input }) => (await recordChecks(ctx, [input], false))[0]!),

  createMany: roleOrServiceProcedure('admin', 'doctor')
    .meta({
      description:
        "Record an array of check-ups, all or nothing: an unknown or out-of-scope patient rejects the batch, naming the item's index.",
      scope: 'checkHistory:write',
    })
    .input(checksInput)
    .mutation(({ ctx, input }) => recordChecks(ctx, input, true)),

  list: authedProcedure
    .meta({
      description:
        "A patient's check-ups, newest check time first, a page at a time (cursor = the last id seen). `from` (inclusive) and `to` (exclusive) bound the check time. For the patient's doctor, the patient, admins (check times are admission data) and services with checkHistory:read.",
      scope: 'checkHistory:read',
    })
    .input(listChecksInput)
    .query(({ ctx, input }) => listChecks(ctx, input)),
});
