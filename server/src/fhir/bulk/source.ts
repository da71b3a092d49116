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
  type PatientHistory,
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
 * The resources of a page of patients an export of `types` writes, patient by patient: the
 * Patient, its Condition and MedicationStatement (when `actor` reads clinical content and they
 * exist), its Encounters and DocumentReferences, a page of rows at a time. The page's versions
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
    for await (const resource of resourcesOfPatient(db, actor, base, row, versions.get(row.id)!, types)) {
      yield { ...resource, patientId: row.id };
    }
  }
}

async function* resourcesOfPatient(
  db: Database,
  actor: Actor,
  base: FhirBase,
  row: PatientRow,
  history: PatientHistory,
  types: ReadonlySet<ResourceType>,
): AsyncGenerator<TypedResource> {
  const view = patientView(actor, row);
  if (types.has('Patient')) yield { type: 'Patient', resource: toPatient(base, view, history) };
  if (types.has('Condition')) {
    const condition = toCondition(view, history);
    if (condition) yield { type: 'Condition', resource: condition };
  }
  if (types.has('MedicationStatement')) {
    const statement = toMedicationStatement(view, history);
    if (statement) yield { type: 'MedicationStatement', resource: statement };
  }
  if (types.has('Encounter')) {
    for await (const checks of keyset((page) => checkHistoryRepo.pageOfPatientById(db, row.id, page))) {
      for (const check of checks) {
        yield {
          type: 'Encounter',
          resource: toEncounter({
            id: check.id,
            patientId: check.patientId,
            checkTime: check.checkTime,
            doctorId: check.doctorId ?? null,
            roomNumber: check.roomNumber ?? null,
            createdAt: check.createdAt,
          }),
        };
      }
    }
  }
  if (types.has('DocumentReference')) {
    for await (const notes of keyset((page) => notesRepo.listOfPatient(db, row.id, page, 'asc'))) {
      const corrections = await notesRepo.correctionsOf(
        db,
        row.id,
        notes.map((n) => n.id),
      );
      for (const note of notes) {
        const correction = corrections.get(note.id) ?? null;
        yield {
          type: 'DocumentReference',
          resource: toDocumentReference({
            id: note.id,
            patientId: note.patientId,
            authorName: note.authorName,
            body: note.body,
            correctsNoteId: note.correctsNoteId ?? null,
            correctedByNoteId: correction?.id ?? null,
            correctedAt: correction?.createdAt ?? null,
            createdAt: note.createdAt,
          }),
        };
      }
    }
  }
}

/** A doctor of the register as a Practitioner. */
export const practitionerOf = toPractitioner;
