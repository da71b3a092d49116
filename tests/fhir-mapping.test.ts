import { describe, expect, it } from 'vitest';
import {
  type CheckInput,
  type DoctorInput,
  type FhirBase,
  genderCode,
  type NoteInput,
  ORIGINAL_TEXT_EXTENSION,
  type PatientHistory,
  type PatientInput,
  RECORDED_AGE_EXTENSION,
  toCondition,
  toDocumentReference,
  toEncounter,
  toMedicationStatement,
  toPatient,
  toPractitioner,
} from '../server/src/fhir/mapping';
import { outcome, outcomeOf } from '../server/src/fhir/outcome';
import { badInput, notFound } from '../server/src/domain/errors';
import { fhirSchemaErrors } from './helpers/fhirSchema';

/*
 * The FHIR mapping (server/src/fhir/mapping.ts): every resource type HDMS produces, with and
 * without its optional data, validates against the official FHIR R4 JSON schema; and the rules of
 * the mapping (gender codes, the recorded age and no invented birth date, superseded notes).
 */

const base: FhirBase = {
  url: 'https://hdms.example.org/fhir/R4',
  identifierSystem: 'https://clinic.example.org/patient-id',
};
const at = new Date('2024-05-01T10:00:00.000Z');
const later = new Date('2024-06-01T08:30:00.000Z');

const patient = (over: Partial<PatientInput> = {}): PatientInput => ({
  id: 7,
  name: 'Ada Lovelace',
  age: 36,
  gender: 'F',
  diagnosis: 'Hypertension',
  prescribedMedicine: 'Lisinopril 10 mg',
  ...over,
});
const history: PatientHistory = { versionId: '3', lastUpdated: later, ageRecordedAt: at };
const doctor: DoctorInput = { id: 2, name: 'Dr. Grace Hopper', specialization: 'Cardiology', updatedAt: at };
const check = (over: Partial<CheckInput> = {}): CheckInput => ({
  id: 11,
  patientId: 7,
  checkTime: at,
  doctorId: 2,
  roomNumber: '12A',
  createdAt: at,
  ...over,
});
const note = (over: Partial<NoteInput> = {}): NoteInput => ({
  id: 21,
  patientId: 7,
  authorName: 'Dr. Grace Hopper',
  body: 'Blood pressure 150/95; café au lait spots noted.',
  correctsNoteId: null,
  correctedByNoteId: null,
  createdAt: at,
  correctedAt: null,
  ...over,
});

describe('FHIR mapping validates against the FHIR R4 JSON schema', () => {
  const cases: [string, unknown][] = [
    ['Patient, full', toPatient(base, patient(), history)],
    [
      'Patient, unmapped gender with its original text',
      toPatient(base, patient({ gender: 'nonbinary' }), history),
    ],
    ['Patient, empty gender', toPatient(base, patient({ gender: '' }), history)],
    [
      'Patient, without clinical fields (admin view)',
      toPatient(base, { id: 8, name: 'B', age: 0, gender: 'M' }, history),
    ],
    ['Practitioner', toPractitioner(doctor)],
    ['Encounter with doctor and room', toEncounter(check())],
    [
      'Encounter recorded before doctor and room were kept',
      toEncounter(check({ doctorId: null, roomNumber: null })),
    ],
    ['Condition', toCondition(patient(), history)],
    ['MedicationStatement', toMedicationStatement(patient(), history)],
    ['DocumentReference, current', toDocumentReference(note())],
    ['DocumentReference, a correction', toDocumentReference(note({ id: 22, correctsNoteId: 21 }))],
    [
      'DocumentReference, superseded',
      toDocumentReference(note({ correctedByNoteId: 22, correctedAt: later })),
    ],
    ['DocumentReference, empty-ish body', toDocumentReference(note({ body: ' ' }))],
    ['OperationOutcome', outcome(404, 'not-found', 'Patient not found').body],
    ['OperationOutcome with issues', outcomeOf(badInput(['_count'], 'bad')).body],
  ];
  it.each(cases)('%s', (_name, resource) => {
    expect(fhirSchemaErrors(resource as { resourceType: string })).toEqual([]);
  });

  it('the schema does catch an invalid resource (the check can fail)', () => {
    const broken = { ...toPatient(base, patient(), history), gender: 'F', birthDate: 'yesterday' };
    expect(fhirSchemaErrors(broken).length).toBeGreaterThan(0);
    expect(fhirSchemaErrors({ resourceType: 'Encounter', id: '1' })).not.toEqual([]);
  });
});

describe('FHIR mapping rules', () => {
  it('maps M/Male to male and F/Female to female, ignoring case and spaces; anything else to unknown', () => {
    expect(['M', 'male', ' Male ', 'MALE'].map(genderCode)).toEqual(['male', 'male', 'male', 'male']);
    expect(['F', 'female', 'Female', 'f'].map(genderCode)).toEqual(['female', 'female', 'female', 'female']);
    expect(['X', 'other', '', 'man'].map(genderCode)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
  });

  it('keeps the original text of an unmapped gender in the originalText extension', () => {
    const resource = toPatient(base, patient({ gender: 'nonbinary' }), history);
    expect(resource.gender).toBe('unknown');
    expect(resource._gender).toEqual({
      extension: [{ url: ORIGINAL_TEXT_EXTENSION, valueString: 'nonbinary' }],
    });
    expect(toPatient(base, patient({ gender: 'F' }), history)._gender).toBeUndefined();
  });

  it('gives the age with the date it was recorded and never a birthDate', () => {
    const resource = toPatient(base, patient(), history);
    expect(resource.birthDate).toBeUndefined();
    expect(resource.extension).toEqual([
      {
        url: RECORDED_AGE_EXTENSION,
        extension: [
          {
            url: 'value',
            valueAge: { value: 36, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
          },
          { url: 'recorded', valueDateTime: '2024-05-01T10:00:00.000Z' },
        ],
      },
    ]);
  });

  it('carries the HDMS id under the configured identifier system, and the version and last update', () => {
    const resource = toPatient(base, patient(), history);
    expect(resource.identifier).toEqual([{ system: 'https://clinic.example.org/patient-id', value: '7' }]);
    expect(resource.meta).toEqual({ versionId: '3', lastUpdated: '2024-06-01T08:30:00.000Z' });
  });

  it('has no Condition or MedicationStatement when the field is cleared, empty or not readable', () => {
    for (const value of [null, '', '  ', undefined]) {
      expect(toCondition(patient({ diagnosis: value }), history)).toBeNull();
      expect(toMedicationStatement(patient({ prescribedMedicine: value }), history)).toBeNull();
    }
    expect(toCondition(patient(), history)).toMatchObject({
      id: 'diagnosis-7',
      code: { text: 'Hypertension' },
      subject: { reference: 'Patient/7' },
    });
    expect(toMedicationStatement(patient(), history)).toMatchObject({
      id: 'medicine-7',
      status: 'active',
      medicationCodeableConcept: { text: 'Lisinopril 10 mg' },
    });
  });

  it('maps a check-up to a finished Encounter with its recorded doctor and room only', () => {
    expect(toEncounter(check())).toMatchObject({
      status: 'finished',
      subject: { reference: 'Patient/7' },
      period: { start: '2024-05-01T10:00:00.000Z' },
      participant: [{ individual: { reference: 'Practitioner/2' } }],
      location: [{ location: { display: 'Room 12A' } }],
    });
    const old = toEncounter(check({ doctorId: null, roomNumber: null }));
    expect(old.participant).toBeUndefined();
    expect(old.location).toBeUndefined();
  });

  it('maps notes to text/plain DocumentReferences; a correction replaces, the corrected note is superseded', () => {
    const current = toDocumentReference(note());
    expect(current.status).toBe('current');
    expect(current.content[0]!.attachment.contentType).toBe('text/plain; charset=utf-8');
    expect(Buffer.from(current.content[0]!.attachment.data!, 'base64').toString('utf8')).toBe(note().body);
    expect(current.author).toEqual([{ display: 'Dr. Grace Hopper' }]);
    expect(current.relatesTo).toBeUndefined();
    const correction = toDocumentReference(note({ id: 22, correctsNoteId: 21 }));
    expect(correction.relatesTo).toEqual([
      { code: 'replaces', target: { reference: 'DocumentReference/21' } },
    ]);
    const superseded = toDocumentReference(note({ correctedByNoteId: 22, correctedAt: later }));
    expect(superseded.status).toBe('superseded');
    expect(superseded.meta).toEqual({ versionId: '2', lastUpdated: '2024-06-01T08:30:00.000Z' });
  });

  it('turns errors into OperationOutcomes with their statuses and no internals', () => {
    expect(outcomeOf(notFound('Patient'))).toMatchObject({
      status: 404,
      body: { issue: [{ code: 'not-found' }] },
    });
    const internal = outcomeOf(new Error('SELECT secret FROM patients'));
    expect(internal.status).toBe(500);
    expect(JSON.stringify(internal.body)).not.toContain('secret');
    expect(outcomeOf(badInput(['_count'], 'too big')).body.issue[0]).toMatchObject({
      expression: ['_count'],
    });
  });
});
