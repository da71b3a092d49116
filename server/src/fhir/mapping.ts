import type {
  Condition,
  DocumentReference,
  Encounter,
  Extension,
  MedicationStatement,
  Meta,
  Patient,
  Practitioner,
  Reference,
} from '@medplum/fhirtypes';
import type { NoteView } from '../domain/notes/index';

/**
 * HDMS records as FHIR R4 resources: one pure function per resource type, from the domain's
 * views (plain objects, no database access), so the read API and the bulk export write the same
 * resources. What a resource may show is decided before it gets here: a mapper maps what it is
 * given (a patient view without `diagnosis` has no Condition).
 */

/** Where resources live and how they name HDMS ids: the context every mapper and link needs. */
export interface FhirBase {
  /** The FHIR base URL, absolute, without a trailing slash: `<PUBLIC_URL>/fhir/R4`. */
  url: string;
  /** The `system` of the identifier carrying a patient's HDMS id (`FHIR_IDENTIFIER_SYSTEM`). */
  identifierSystem: string;
}

/** The FHIR resource types HDMS serves, in the order `$everything` and the CapabilityStatement list them. */
export const RESOURCE_TYPES = [
  'Patient',
  'Practitioner',
  'Encounter',
  'Condition',
  'MedicationStatement',
  'DocumentReference',
] as const;

/** One resource type HDMS serves. */
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** The resources HDMS produces. */
export type HdmsResource =
  | Patient
  | Practitioner
  | Encounter
  | Condition
  | MedicationStatement
  | DocumentReference;

/** The FHIR core extension holding the text a coded value was made from (`gender` → `unknown`). */
export const ORIGINAL_TEXT_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/originalText';
/** HDMS's extension on Patient: the age as recorded (`value`, an Age) and when (`recorded`). */
export const RECORDED_AGE_EXTENSION = 'urn:hdms:fhir:StructureDefinition:recorded-age';

/** The version of a record: `versionId` (the weak ETag's value) and `lastUpdated`. */
export interface RecordVersion {
  versionId: string;
  lastUpdated: Date;
}

/** A patient as the mapping needs it (a `PatientView` fits). */
export interface PatientInput {
  id: number;
  name: string;
  age: number;
  gender: string;
  /** Present (possibly null) only for callers who read clinical content. */
  diagnosis?: string | null;
  prescribedMedicine?: string | null;
}

/** What the revision history says of a patient: its version and when the age was last recorded. */
export interface PatientHistory extends RecordVersion {
  /** When `age` got its current value: the revision that last changed it, else the admission. */
  ageRecordedAt: Date;
}

/** A doctor of the register as the mapping needs it (a `DoctorView` fits). */
export interface DoctorInput {
  id: number;
  name: string;
  specialization: string;
  updatedAt: Date;
}

/** A check-up as the mapping needs it (a `CheckView` fits). */
export interface CheckInput {
  id: number;
  patientId: number;
  checkTime: Date;
  /** The doctor and room recorded with the check-up (null for check-ups recorded before they were). */
  doctorId: number | null;
  roomNumber: string | null;
  createdAt: Date;
}

/** A note as the mapping needs it: its view, with when it was superseded, if it was. */
export interface NoteInput extends NoteView {
  /** When the correcting note was written (null when not corrected or not known). */
  correctedAt?: Date | null;
}

/** FHIR's `instant` / `dateTime` text of a Date. */
export const instant = (date: Date): string => date.toISOString();

/** The absolute URL of a resource (a Bundle entry's `fullUrl`). */
export const resourceUrl = (base: FhirBase, type: ResourceType, id: string | number): string =>
  `${base.url}/${type}/${id}`;

/** The weak ETag of a version: `W/"<versionId>"`. */
export const etagOf = (versionId: string): string => `W/"${versionId}"`;

const meta = (version: RecordVersion): Meta => ({
  versionId: version.versionId,
  lastUpdated: instant(version.lastUpdated),
});

const patientRef = (patientId: number): Reference<Patient> => ({ reference: `Patient/${patientId}` });

/** The resource ids of the patient-derived resources: one Condition and one MedicationStatement per patient. */
export const conditionId = (patientId: number): string => `diagnosis-${patientId}`;
export const medicationStatementId = (patientId: number): string => `medicine-${patientId}`;

/** The patient a derived resource id (`diagnosis-12`, `medicine-12`) names, or null. */
export function derivedPatientId(type: 'Condition' | 'MedicationStatement', id: string): number | null {
  const prefix = type === 'Condition' ? 'diagnosis-' : 'medicine-';
  if (!id.startsWith(prefix)) return null;
  const rest = id.slice(prefix.length);
  return /^[1-9]\d{0,9}$/.test(rest) && Number(rest) <= 2_147_483_647 ? Number(rest) : null;
}

/** HDMS's free-text gender as a FHIR code: M/Male → male, F/Female → female, anything else → unknown. */
export function genderCode(gender: string): 'male' | 'female' | 'unknown' {
  const g = gender.trim().toLowerCase();
  if (g === 'm' || g === 'male') return 'male';
  if (g === 'f' || g === 'female') return 'female';
  return 'unknown';
}

/** A FHIR Patient as HDMS writes it: `_gender` carries the original text of an unmapped gender. */
export type HdmsPatient = Patient & { _gender?: { extension: Extension[] } };

/**
 * Patient: the name as text, the HDMS id as identifier, the gender as a FHIR code (the original
 * text in the core `originalText` extension when it maps to `unknown`), and the age as recorded,
 * with its date, in an extension: HDMS keeps an age, never a birth date, so none is invented.
 */
export function toPatient(base: FhirBase, patient: PatientInput, history: PatientHistory): HdmsPatient {
  const gender = genderCode(patient.gender);
  const resource: HdmsPatient = {
    resourceType: 'Patient',
    id: String(patient.id),
    meta: meta(history),
    identifier: [{ system: base.identifierSystem, value: String(patient.id) }],
    name: [{ text: patient.name }],
    gender,
    extension: [
      {
        url: RECORDED_AGE_EXTENSION,
        extension: [
          {
            url: 'value',
            valueAge: { value: patient.age, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
          },
          { url: 'recorded', valueDateTime: instant(history.ageRecordedAt) },
        ],
      },
    ],
  };
  if (gender === 'unknown' && patient.gender.trim() !== '') {
    resource._gender = { extension: [{ url: ORIGINAL_TEXT_EXTENSION, valueString: patient.gender }] };
  }
  return resource;
}

/** Practitioner: a doctor of the register, the specialization as a qualification. */
export function toPractitioner(doctor: DoctorInput): Practitioner {
  return {
    resourceType: 'Practitioner',
    id: String(doctor.id),
    meta: meta({ versionId: String(doctor.updatedAt.getTime()), lastUpdated: doctor.updatedAt }),
    name: [{ text: doctor.name }],
    qualification: [{ code: { text: doctor.specialization } }],
  };
}

/** The v3 ActCode system of `Encounter.class`. */
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

/**
 * Encounter: a check-up, `finished`, at `period.start`. The doctor and the room are the ones
 * recorded with the check-up (absent on check-ups recorded before HDMS kept them); a check-up in
 * a room is an inpatient encounter (`IMP`), otherwise ambulatory (`AMB`). Check-ups never change:
 * version 1.
 */
export function toEncounter(check: CheckInput): Encounter {
  const resource: Encounter = {
    resourceType: 'Encounter',
    id: String(check.id),
    meta: meta({ versionId: '1', lastUpdated: check.createdAt }),
    status: 'finished',
    class:
      check.roomNumber !== null
        ? { system: ACT_CODE, code: 'IMP', display: 'inpatient encounter' }
        : { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
    subject: patientRef(check.patientId),
    period: { start: instant(check.checkTime) },
  };
  if (check.doctorId !== null) {
    resource.participant = [{ individual: { reference: `Practitioner/${check.doctorId}` } }];
  }
  if (check.roomNumber !== null) {
    resource.location = [{ location: { display: `Room ${check.roomNumber}` } }];
  }
  return resource;
}

/**
 * Condition: the patient's current diagnosis (one per patient, id `diagnosis-<patientId>`), or
 * null when there is none (cleared, never set, or not readable by the caller). Its version is
 * the patient record's.
 */
export function toCondition(patient: PatientInput, version: RecordVersion): Condition | null {
  const diagnosis = patient.diagnosis?.trim();
  if (!diagnosis) return null;
  return {
    resourceType: 'Condition',
    id: conditionId(patient.id),
    meta: meta(version),
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
    },
    code: { text: patient.diagnosis! },
    subject: patientRef(patient.id),
  };
}

/**
 * MedicationStatement: the patient's prescribed medicine (one per patient, id
 * `medicine-<patientId>`), or null when there is none. Its version is the patient record's.
 */
export function toMedicationStatement(
  patient: PatientInput,
  version: RecordVersion,
): MedicationStatement | null {
  const medicine = patient.prescribedMedicine?.trim();
  if (!medicine) return null;
  return {
    resourceType: 'MedicationStatement',
    id: medicationStatementId(patient.id),
    meta: meta(version),
    status: 'active',
    medicationCodeableConcept: { text: patient.prescribedMedicine! },
    subject: patientRef(patient.id),
  };
}

/**
 * DocumentReference: a note as a text/plain attachment with its author and date. A correction
 * `replaces` the note it corrects; a corrected note is `superseded` (its version 2, from when the
 * correction was written).
 */
export function toDocumentReference(note: NoteInput): DocumentReference {
  const corrected = note.correctedByNoteId !== null;
  const resource: DocumentReference = {
    resourceType: 'DocumentReference',
    id: String(note.id),
    meta: meta({
      versionId: corrected ? '2' : '1',
      lastUpdated: (corrected ? note.correctedAt : null) ?? note.createdAt,
    }),
    status: corrected ? 'superseded' : 'current',
    subject: patientRef(note.patientId),
    date: instant(note.createdAt),
    author: [{ display: note.authorName }],
    content: [
      {
        attachment: {
          contentType: 'text/plain; charset=utf-8',
          data: Buffer.from(note.body, 'utf8').toString('base64'),
        },
      },
    ],
  };
  if (note.correctsNoteId !== null) {
    resource.relatesTo = [
      { code: 'replaces', target: { reference: `DocumentReference/${note.correctsNoteId}` } },
    ];
  }
  return resource;
}
