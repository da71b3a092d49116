import { patientsRepo } from '@hdms/db';
import { readablePatientFields } from '../access/policy';
import { accessOf, patientsReached } from '../access/scope';
import { recordAudit } from '../audit/record';
import { type DomainContext, readDatabase } from '../context';
import { type Page, pageOf } from '../../lib/pagination';
import { findPatientId, readPatient } from './lookup';
import { type PatientView, patientView, type RevisionView, revisionView } from './views';

/**
 * Reading patients' records: every read goes through the caller's scope and writes its audit
 * row before the answer is returned.
 */

/** Who reads: the caller, their scope and where the call came from (for the audit row). */
export type Reader = Pick<
  DomainContext,
  'db' | 'reads' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'
>;

/**
 * `patients.list`: a page of the patients in scope, by id, optionally one doctor's or matching a
 * name; each says why a doctor sees it (`access`).
 */
export async function listPatients(
  ctx: Reader,
  input: { limit: number; cursor?: number | null; doctorId?: number; search?: string },
): Promise<Page<PatientView>> {
  const rows = await patientsRepo.list(
    await readDatabase(ctx),
    patientsReached(ctx.scope),
    input,
    { doctorId: input.doctorId, search: input.search },
    readablePatientFields(ctx.actor),
  );
  const page = pageOf(rows, input.limit, (p) => patientView(ctx.actor, p, accessOf(ctx.scope, p)));
  if (page.items.length) await recordAudit(ctx, { action: 'read', patientIds: page.items.map((p) => p.id) });
  return page;
}

/** How many patients in the caller's scope match the filters of `listPatients` (a search's total). */
export async function countPatients(
  ctx: Reader,
  filter: { doctorId?: number; search?: string },
): Promise<number> {
  return patientsRepo.count(await readDatabase(ctx), patientsReached(ctx.scope), filter);
}

/** `patients.get`: one patient's record as the caller may see it (with `access` for a doctor). */
export async function getPatient(ctx: Reader, id: number): Promise<PatientView> {
  const patient = await readPatient(ctx, id);
  await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
  return patientView(ctx.actor, patient, accessOf(ctx.scope, patient));
}

/** `patients.history`: a page of a patient's revisions, newest first (clinical values withheld as views say). */
export async function patientHistory(
  ctx: Reader,
  input: { patientId: number; limit: number; cursor?: number | null },
): Promise<Page<RevisionView>> {
  const patientId = await findPatientId(ctx, input.patientId);
  const rows = await patientsRepo.listRevisions(await readDatabase(ctx), patientId, input);
  const page = pageOf(rows, input.limit, (r) => revisionView(ctx.actor, r));
  await recordAudit(ctx, { action: 'read', patientIds: [patientId] });
  return page;
}
