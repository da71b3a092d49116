import { z } from 'zod';
import { listInput } from '../../lib/pagination';
import { batchOf, idSchema, lineText, longText } from '../../lib/schemas';

/** The longest diagnosis or prescribed medicine, in characters. */
const MAX_CLINICAL_LENGTH = 20_000;

/** Room and bed numbers: a string or an integer, kept as a string. */
const placeSchema = z.union([lineText(32), z.number().int().min(0).max(2_147_483_647)]).transform(String);

const fields = {
  name: lineText(200),
  age: z
    .number({ invalid_type_error: 'must be a whole number' })
    .int('must be a whole number')
    .min(0)
    .max(150),
  gender: lineText(32),
  doctorId: idSchema,
  roomNumber: placeSchema,
  bedNumber: placeSchema,
  diagnosis: longText(MAX_CLINICAL_LENGTH),
  prescribedMedicine: longText(MAX_CLINICAL_LENGTH),
};

/**
 * One patient to admit. Admission fields only: clinical content enters a record through
 * `patients.update`, so every clinical value has a revision. A doctor's `doctorId` defaults to
 * their own.
 */
export const patientCreateInput = z
  .object({
    name: fields.name,
    age: fields.age,
    gender: fields.gender,
    doctorId: fields.doctorId.nullish(),
    roomNumber: fields.roomNumber.nullish(),
    bedNumber: fields.bedNumber.nullish(),
  })
  .strict();

/** A validated patient to admit. */
export type PatientCreateItem = z.output<typeof patientCreateInput>;

/** Patients to admit in one all-or-nothing batch. */
export const patientsCreateInput = batchOf(patientCreateInput);

/**
 * The fields of one update; absent means unchanged, `null` clears an optional field. Also the
 * payload a background update job validates.
 */
export const patientChangesSchema = z
  .object({
    name: fields.name.optional(),
    age: fields.age.optional(),
    gender: fields.gender.optional(),
    doctorId: fields.doctorId.nullable().optional(),
    roomNumber: fields.roomNumber.nullable().optional(),
    bedNumber: fields.bedNumber.nullable().optional(),
    diagnosis: fields.diagnosis.nullable().optional(),
    prescribedMedicine: fields.prescribedMedicine.nullable().optional(),
  })
  .strict();

/** A validated update. */
export type PatientChanges = z.output<typeof patientChangesSchema>;

/** `patients.update` input: the patient's id and the changes. */
export const patientUpdateInput = patientChangesSchema.extend({ id: idSchema });

/** The input of `patients.list`: a keyset page, a name search and an optional doctor filter. */
export const patientListInput = listInput.extend({ doctorId: idSchema.optional() });

/** `patients.get` input. */
export const patientGetInput = z.object({ id: idSchema }).strict();

/** `patients.history` input. */
export const patientHistoryInput = z
  .object({
    patientId: idSchema,
    limit: z.number().int().min(1).max(1000).default(50),
    cursor: idSchema.nullish(),
  })
  .strict();

/**
 * `patients.import` input: a CSV file as text (a header row, then one row per patient; see
 * `jobs/importCsv.ts`), within the tRPC request limit; larger files go to `POST /patients/import`.
 */
export const patientsImportInput = z
  .object({ csv: z.string().min(1, 'is required: a header row, then one row per patient') })
  .strict();

/** `patients.export` input: the patient whose full record to export. */
export const patientExportInput = z.object({ patientId: idSchema }).strict();
