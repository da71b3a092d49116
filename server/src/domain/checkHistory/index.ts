import { type CheckRow, checkHistoryRepo } from '@hdms/db';
import { z } from 'zod';
import { type Page, pageInput, pageOf } from '../../lib/pagination';
import { batchOf, idSchema } from '../../lib/schemas';
import { recordAudit } from '../audit/record';
import { type DomainContext, readDatabase } from '../context';
import { badInput, badRequest, isNotFound, notFound } from '../errors';
import { recordEvents } from '../events/record';
import { findPatientId, patientPlacesInScope } from '../patients/lookup';

/**
 * When a patient was checked: doctors (and admins, for admission) record check-ups, the care team
 * and the patient read them. Check times are admission data, not clinical content.
 */

/** One check-up of a patient, as clients see it. */
export interface CheckView {
  id: number;
  patientId: number;
  checkTime: Date;
}

/**
 * A check-up with where it took place: the patient's doctor and room when it was recorded (null
 * on check-ups recorded before HDMS kept them), and when it was recorded (FHIR's Encounter).
 */
export interface CheckRecordView extends CheckView {
  doctorId: number | null;
  roomNumber: string | null;
  createdAt: Date;
}

/** Maps a `CheckHistory` row to its client view with an explicit field list. */
export function checkView(row: CheckRow): CheckView {
  return { id: row.id, patientId: row.patientId, checkTime: row.checkTime };
}

/** Maps a `CheckHistory` row to its view with the doctor and room recorded with it. */
export function checkRecordView(row: CheckRow): CheckRecordView {
  return {
    ...checkView(row),
    doctorId: row.doctorId ?? null,
    roomNumber: row.roomNumber ?? null,
    createdAt: row.createdAt,
  };
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

/** `checkHistory.list` input: a patient, a page, and optionally a check-time range. */
export const listChecksInput = pageInput
  .extend({ patientId: idSchema, from: z.date().optional(), to: z.date().optional() })
  .strict()
  .refine((v) => !(v.from && v.to && v.from > v.to), {
    message: 'from must not be after to',
    path: ['from'],
  });

/** Who records or reads check-ups: the caller, their scope and where the call came from. */
type Caller = Pick<DomainContext, 'db' | 'reads' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'>;

/**
 * Records check-ups in one transaction with their audit rows, all or none. Every patient must be
 * in the caller's write scope (and stays while we write: the rows are share-locked). The first one
 * that is not fails the batch: NOT_FOUND for a single check-up, bad input naming the item's
 * `patientId` in a batch.
 */
export function recordChecks(
  ctx: Caller,
  items: z.output<typeof checkInput>[],
  batch: boolean,
): Promise<CheckView[]> {
  const now = new Date();
  return ctx.db.transaction(async (tx) => {
    const ids = items.map((item) => item.patientId);
    // Each check-up records the patient's doctor and room as they are now, in the transaction
    // that holds the patients share-locked.
    const places = await patientPlacesInScope(ctx, ids, { need: 'checkHistory:write', tx, lock: 'share' });
    const index = items.findIndex((item) => !places.has(item.patientId));
    if (index >= 0) throw batch ? badInput([index, 'patientId'], 'Patient not found') : notFound('Patient');
    const rows = await checkHistoryRepo.insertMany(
      ctx.db,
      items.map((item) => ({
        patientId: item.patientId,
        checkTime: item.checkTime ?? now,
        ...places.get(item.patientId)!,
      })),
      tx,
    );
    await recordAudit(ctx, { action: 'create', patientIds: ids }, tx);
    await recordEvents(
      ctx.db,
      tx,
      rows.map((row) => ({ type: 'checkHistory.created', entityId: row.id, patientId: row.patientId })),
    );
    return rows.map(checkView);
  });
}

/** `checkHistory.list`: a page of a patient's check-ups, newest check time first. */
export async function listChecks(
  ctx: Caller,
  input: z.output<typeof listChecksInput>,
): Promise<Page<CheckView>> {
  const page = await listCheckRecords(ctx, input);
  return { items: page.items.map(checkView), nextCursor: page.nextCursor };
}

/**
 * A page of a patient's check-ups with the doctor and room recorded with each, as `listChecks`
 * pages them (and audits the read); with `total`, also how many check-ups fall in the range.
 */
export async function listCheckRecords(
  ctx: Caller,
  input: z.output<typeof listChecksInput>,
  options: { total?: boolean } = {},
): Promise<Page<CheckRecordView> & { total?: number }> {
  const patientId = await findPatientId(ctx, input.patientId, 'checkHistory:read');
  const db = await readDatabase(ctx);
  let after: CheckRow | null = null;
  if (input.cursor) {
    after = await checkHistoryRepo.findOfPatient(db, patientId, input.cursor);
    if (!after) throw badRequest('cursor is not from this list');
  }
  const rows = await checkHistoryRepo.listOfPatient(db, patientId, {
    limit: input.limit,
    after,
    from: input.from,
    to: input.to,
  });
  const page: Page<CheckRecordView> & { total?: number } = pageOf(rows, input.limit, checkRecordView);
  if (options.total) {
    page.total = await checkHistoryRepo.countInRange(db, patientId, { from: input.from, to: input.to });
  }
  await recordAudit(ctx, { action: 'read', patientIds: [patientId] });
  return page;
}

/** One check-up by id with the doctor and room recorded with it: NOT_FOUND when absent or its patient is out of scope. */
export async function getCheckRecord(ctx: Caller, id: number): Promise<CheckRecordView> {
  const row = await checkHistoryRepo.find(await readDatabase(ctx), id);
  if (!row) throw notFound('Check-up');
  await findPatientId(ctx, row.patientId, 'checkHistory:read').catch((error: unknown) => {
    throw isNotFound(error) ? notFound('Check-up') : error;
  });
  await recordAudit(ctx, { action: 'read', patientIds: [row.patientId] });
  return checkRecordView(row);
}
