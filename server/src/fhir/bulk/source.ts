import {
  checkHistoryRepo,
  type Database,
  doctorsRepo,
  notesRepo,
  type PatientRow,
  type PatientScope,
  patientsRepo,
} from '@hdms/db';
import { readablePatientFields } from '../../domain/access/policy';
import type { Actor } from '../../domain/actor';
import { patientVersions } from '../../domain/patients/versions';
import { patientView } from '../../domain/patients/views';
import {
  type FhirBase,
  type HdmsResource,
  type ResourceType,
  toCondition,
  toDocumentReference,
  toEncounter,
  toMedicationStatement,
  toPatient,
  toPractitioner,
} from '../mapping';

/**
 * What a bulk export reads, a page at a time, as FHIR resources: the doctors' register
 * (Practitioner) and the patients of the export's scope with their check-ups and notes, each
 * page through the repositories' keyset reads (by id), so memory holds one page, never the whole.
 */

/** Patients read per page (each page's audit rows go in one batch). */
export const PATIENT_PAGE = 200;
/** Doctors, check-ups or notes read per page. */
const ROW_PAGE = 500;

/** A resource and its type, as the export writes it. */
export interface TypedResource {
  type: ResourceType;
  resource: HdmsResource;
}

/** Every row of a keyset reader (`limit + 1` rows per call), a page at a time, after `cursor`. */
async function* keyset<T extends { id: number }>(
  read: (page: { cursor: number | null; limit: number }) => Promise<T[]>,
  cursor: number | null = null,
  limit = ROW_PAGE,
): AsyncGenerator<T[]> {
  for (;;) {
    const rows = (await read({ cursor, limit })).slice(0, limit);
    if (rows.length) yield rows;
    if (rows.length < limit) return;
    cursor = rows[rows.length - 1]!.id;
  }
}

/** Pages of the doctors' register, after doctor id `cursor`. */
export function doctorPages(db: Database, cursor: number | null) {
  return keyset((page) => doctorsRepo.list(db, page), cursor);
}

/** Pages of the patients of `scope` (the columns `actor` may read), after patient id `cursor`. */
export function patientPages(db: Database, actor: Actor, scope: PatientScope, cursor: number | null) {
  const columns = readablePatientFields(actor);
  return keyset((page) => patientsRepo.list(db, scope, page, {}, columns), cursor, PATIENT_PAGE);
}

/**
 * The resources of a page of patients an export of `types` writes: each patient's Patient, its
 * Condition and MedicationStatement (when `actor` reads clinical content and they exist), then
 * the page's Encounters and DocumentReferences, read for the whole page at once a page of rows at
 * a time (one statement per page of rows, never one per patient). The page's versions
 * (`meta.versionId`) come from their revision history in one query, as the read API's do.
 */
export async function* resourcesOfPatients(
  db: Database,
  actor: Actor,
  base: FhirBase,
  rows: readonly PatientRow[],
  types: ReadonlySet<ResourceType>,
): AsyncGenerator<TypedResource & { patientId: number }> {
  const versions = await patientVersions(db, rows);
  for (const row of rows) {
    const view = patientView(actor, row);
    const history = versions.get(row.id)!;
    const patientId = row.id;
    if (types.has('Patient')) yield { type: 'Patient', resource: toPatient(base, view, history), patientId };
    if (types.has('Condition')) {
      const condition = toCondition(view, history);
      if (condition) yield { type: 'Condition', resource: condition, patientId };
    }
    if (types.has('MedicationStatement')) {
      const statement = toMedicationStatement(view, history);
      if (statement) yield { type: 'MedicationStatement', resource: statement, patientId };
    }
  }
  const ids = rows.map((r) => r.id);
  if (types.has('Encounter')) {
    for await (const checks of byPatient((after) =>
      checkHistoryRepo.pageOfPatients(db, ids, { limit: ROW_PAGE, after }),
    )) {
      for (const check of checks) {
        const resource = toEncounter({
          id: check.id,
          patientId: check.patientId,
          checkTime: check.checkTime,
          doctorId: check.doctorId ?? null,
          roomNumber: check.roomNumber ?? null,
          createdAt: check.createdAt,
        });
        yield { type: 'Encounter', resource, patientId: check.patientId };
      }
    }
  }
  if (types.has('DocumentReference')) {
    for await (const notes of byPatient((after) =>
      notesRepo.pageOfPatients(db, ids, { limit: ROW_PAGE, after }),
    )) {
      const corrections = new Map<number, { id: number; createdAt: Date }>();
      for (const patientId of new Set(notes.map((n) => n.patientId))) {
        const mine = notes.filter((n) => n.patientId === patientId).map((n) => n.id);
        for (const [id, by] of await notesRepo.correctionsOf(db, patientId, mine)) corrections.set(id, by);
      }
      for (const note of notes) {
        const correction = corrections.get(note.id) ?? null;
        const resource = toDocumentReference({
          id: note.id,
          patientId: note.patientId,
          authorName: note.authorName,
          body: note.body,
          correctsNoteId: note.correctsNoteId ?? null,
          correctedByNoteId: correction?.id ?? null,
          correctedAt: correction?.createdAt ?? null,
          createdAt: note.createdAt,
        });
        yield { type: 'DocumentReference', resource, patientId: note.patientId };
      }
    }
  }
}

/** Every row of a keyset reader over several patients (by patient, then id), a page at a time. */
async function* byPatient<T extends { id: number; patientId: number }>(
  read: (after: { patientId: number; id: number } | null) => Promise<T[]>,
): AsyncGenerator<T[]> {
  let after: { patientId: number; id: number } | null = null;
  for (;;) {
    const rows: T[] = (await read(after)).slice(0, ROW_PAGE);
    if (rows.length) yield rows;
    if (rows.length < ROW_PAGE) return;
    const last: T = rows[rows.length - 1]!;
    after = { patientId: last.patientId, id: last.id };
  }
}

/** A doctor of the register as a Practitioner. */
export const practitionerOf = toPractitioner;
