import { type Lock, type PatientColumn, type PatientRow, patientsRepo, type Tx } from '@hdms/db';
import { assertMayExportReached, canReadClinical, readablePatientFields, type Scope } from '../access/policy';
import { accessOf, patientsReached } from '../access/scope';
import { type DomainContext, readDatabase } from '../context';
import { notFound } from '../errors';

/**
 * Finding a patient in the caller's scope: the one way the domain reaches a patient's record.
 * Anything absent or out of scope is NOT_FOUND, exactly alike. `need` is the service-token scope
 * the call needs (`patients:read` by default; writes `patients:write`, check-ups
 * `checkHistory:read`/`checkHistory:write`).
 */

/** Who looks a patient up: the database and the caller's scope. */
export type Looker = Pick<DomainContext, 'db' | 'scope' | 'reads'>;

/** The patient's record in the caller's scope as the caller may read it (the fast read). */
export async function readPatient(
  ctx: Looker & Pick<DomainContext, 'actor'>,
  id: number,
): Promise<PatientRow> {
  const row = await patientsRepo.read(
    await readDatabase(ctx),
    patientsReached(ctx.scope),
    id,
    readablePatientFields(ctx.actor),
  );
  if (!row) throw notFound('Patient');
  return row;
}

/** The patient in the caller's scope inside a transaction, optionally locked; NOT_FOUND otherwise. */
export async function findPatient(
  ctx: Looker,
  id: number,
  options: { tx: Tx; lock?: Lock; need?: Scope; columns?: PatientColumn[] },
): Promise<PatientRow> {
  const row = await patientsRepo.findForWrite(ctx.db, patientsReached(ctx.scope, options.need), id, options);
  if (!row) throw notFound('Patient');
  return row;
}

/** The id of a patient in the caller's scope (one written-out read); NOT_FOUND otherwise. */
export async function findPatientId(ctx: Looker, id: number, need?: Scope): Promise<number> {
  const row = await patientsRepo.read(await readDatabase(ctx), patientsReached(ctx.scope, need), id, ['id']);
  if (!row) throw notFound('Patient');
  return row.id;
}

/**
 * The doctor and room of each of `ids` the caller reaches (one query), e.g. to record them with
 * check-ups; a patient the caller does not reach is absent.
 */
export function patientPlacesInScope(
  ctx: Looker,
  ids: number[],
  options: { need?: Scope; tx?: Tx; lock?: Lock } = {},
): Promise<Map<number, { doctorId: number | null; roomNumber: string | null }>> {
  return patientsRepo.placesInScope(ctx.db, patientsReached(ctx.scope, options.need), ids, options);
}

/**
 * The patient whose full record (clinical content included) the caller may export, or download an
 * export of: the patient's doctors (assigned or consented) and the patient themself
 * (`canReadClinical`), in their scope; checked again at every download. For anyone else it is
 * NOT_FOUND, as if no such record existed; a doctor who reaches the patient only by emergency
 * access is FORBIDDEN, saying so (`assertMayExportReached`).
 */
export async function findExportablePatient(
  ctx: Looker & Pick<DomainContext, 'actor'>,
  id: number,
  options: { tx?: Tx; lock?: Lock } = {},
): Promise<Pick<PatientRow, 'id' | 'doctorId'>> {
  if (!canReadClinical(ctx.actor)) throw notFound('Patient');
  const row = options.tx
    ? await findPatient(ctx, id, { tx: options.tx, lock: options.lock, columns: ['id', 'doctorId'] })
    : await patientsRepo.read(ctx.db, patientsReached(ctx.scope), id, ['id', 'doctorId']);
  if (!row) throw notFound('Patient');
  assertMayExportReached(accessOf(ctx.scope, row));
  return row;
}
