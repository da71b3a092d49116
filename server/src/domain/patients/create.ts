import { doctorsRepo, patientsRepo } from '@hdms/db';
import { admittingDoctorId } from '../access/policy';
import { accessOf } from '../access/scope';
import { recordAudit } from '../audit/record';
import type { DomainContext } from '../context';
import { badInput } from '../errors';
import { patientCreated, recordEvents } from '../events/record';
import type { PatientCreateItem } from './schemas';
import { type PatientView, patientView } from './views';

/**
 * Admits patients: all in one transaction and one bulk insert, or none. Who may admit to which
 * doctor is `admittingDoctorId`'s rule; every referenced doctor must exist. A failure names the
 * item by `at(index)` (empty for a single patient), and an unknown doctor is bad input at
 * `[index, 'doctorId']` (at `doctorId` for a single patient).
 */
export async function createPatients(
  ctx: Pick<DomainContext, 'db' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'>,
  items: PatientCreateItem[],
  batch: boolean,
): Promise<PatientView[]> {
  const at = (index: number) => (batch ? `item ${index}: ` : '');
  const rows = items.map((item, index) => ({
    name: item.name,
    age: item.age,
    gender: item.gender,
    doctorId: admittingDoctorId(ctx.actor, item.doctorId, at(index)),
    roomNumber: item.roomNumber ?? null,
    bedNumber: item.bedNumber ?? null,
    diagnosis: null,
    prescribedMedicine: null,
  }));

  return ctx.db.transaction(async (tx) => {
    const wanted = rows.flatMap((r) => (r.doctorId === null ? [] : [r.doctorId]));
    if (wanted.length) {
      const known = await doctorsRepo.existingIds(ctx.db, wanted, tx);
      const index = rows.findIndex((r) => r.doctorId !== null && !known.has(r.doctorId));
      if (index >= 0) throw badInput(batch ? [index, 'doctorId'] : ['doctorId'], 'Doctor not found');
    }
    // The rows are the schema-checked input: one multi-row INSERT, no model instance per patient.
    const patients = await patientsRepo.insertMany(ctx.db, rows, tx);
    await recordAudit(ctx, { action: 'create', patientIds: patients.map((p) => p.id) }, tx);
    await recordEvents(ctx.db, tx, patients.map(patientCreated));
    return patients.map((p) => patientView(ctx.actor, p, accessOf(ctx.scope, p)));
  });
}
