import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { Actor } from '../context';
import { idSchema } from '../validation';

/** Fields set at admission and kept by admins: who the patient is, their doctor, room and bed. */
export const ADMISSION_FIELDS = ['name', 'age', 'gender', 'doctorId', 'roomNumber', 'bedNumber'] as const;
/** Clinical content: only the patient's doctor writes it, only the doctor and the patient read it. */
export const CLINICAL_FIELDS = ['diagnosis', 'prescribedMedicine'] as const;
/** Every field of a patient's record a client may change. */
export type PatientField = (typeof ADMISSION_FIELDS)[number] | (typeof CLINICAL_FIELDS)[number];

/** Demographics: admission fields the patient's doctor may correct as well. */
const DEMOGRAPHIC_FIELDS = ['name', 'age', 'gender'] as const;

/** Room and bed numbers: a string or an integer, kept as a string. */
const placeSchema = z
  .union([z.string().trim().min(1, 'must not be empty').max(32), z.number().int().min(0)])
  .transform(String);

const fields = {
  name: z.string().trim().min(1, 'is required').max(200),
  age: z
    .number({ invalid_type_error: 'must be a whole number' })
    .int('must be a whole number')
    .min(0)
    .max(150),
  gender: z.string().trim().min(1, 'is required').max(32),
  doctorId: idSchema,
  roomNumber: placeSchema,
  bedNumber: placeSchema,
  diagnosis: z.string().max(20_000),
  prescribedMedicine: z.string().max(20_000),
};

/**
 * One patient to admit. Admission fields only: clinical content enters a record through
 * `updatePatient`, so every clinical value has a revision. A doctor's `doctorId` defaults to
 * their own.
 */
export const patientCreateItem = z
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
export type PatientCreateItem = z.infer<typeof patientCreateItem>;

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
export type PatientChanges = z.infer<typeof patientChangesSchema>;

/**
 * Which fields an actor may change on a patient in their scope:
 * - admins and services: the admission fields (never clinical content);
 * - the patient's doctor: demographics and clinical fields, not doctor, room or bed;
 * - patients: nothing.
 */
export function writableFields(actor: Actor): readonly PatientField[] {
  if (actor.type === 'service' || actor.role === 'admin') return ADMISSION_FIELDS;
  if (actor.role === 'doctor') return [...DEMOGRAPHIC_FIELDS, ...CLINICAL_FIELDS];
  return [];
}

/** Why a field is not the actor's to change, for the FORBIDDEN message. */
function reason(actor: Actor, field: PatientField): string {
  if (actor.type === 'user' && actor.role === 'patient') return 'patients cannot change their record';
  if ((CLINICAL_FIELDS as readonly string[]).includes(field)) {
    return "clinical content is changed only by the patient's doctor";
  }
  return 'doctor, room and bed assignments are changed only by an admin';
}

/** Throws FORBIDDEN, naming the fields, if `changes` touches a field the actor may not change. */
export function assertMayChange(actor: Actor, changes: PatientChanges): void {
  const allowed = writableFields(actor);
  const denied = (Object.keys(changes) as PatientField[]).filter(
    (field) => changes[field] !== undefined && !allowed.includes(field),
  );
  if (denied.length === 0) return;
  throw new TRPCError({
    code: 'FORBIDDEN',
    message: `You may not change ${denied.join(', ')}: ${reason(actor, denied[0]!)}`,
  });
}
