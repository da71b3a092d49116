import { type DoctorRow, doctorsRepo, type NewDoctor } from '@hdms/db';
import { z } from 'zod';
import { listInput, type Page, pageOf } from '../../lib/pagination';
import { batchOf, idSchema, lineText } from '../../lib/schemas';
import { type AuditSource, type AuditTarget, recordAudit } from '../audit/record';
import { type DomainContext, readDatabase } from '../context';
import { notFound } from '../errors';
import { recordEvent, recordEvents } from '../events/record';

/** The doctors' register: admins write it, every signed-in person reads it (no patient data). */

/** A doctor of the register, as clients see it. */
export interface DoctorView {
  id: number;
  name: string;
  specialization: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Maps a doctor's row to its client view with an explicit field list. */
export function doctorView(doctor: DoctorRow): DoctorView {
  return {
    id: doctor.id,
    name: doctor.name,
    specialization: doctor.specialization,
    createdAt: doctor.createdAt,
    updatedAt: doctor.updatedAt,
  };
}

/** How audit rows name a doctor of the register. */
function doctorTarget(doctor: DoctorRow): AuditTarget {
  return { type: 'doctor', id: doctor.id, name: doctor.name };
}

/** One doctor to add to the register. */
export const doctorInput = z.object({ name: lineText(200), specialization: lineText(200) }).strict();
/** Doctors to add in one all-or-nothing batch. */
export const doctorsInput = batchOf(doctorInput);
/** `doctors.list` input. */
export const doctorListInput = listInput;
/** `doctors.get` input. */
export const doctorGetInput = z.object({ id: idSchema }).strict();
/** `doctors.update` input: the id and at least one field. */
export const doctorUpdateInput = z
  .object({ id: idSchema, name: lineText(200).optional(), specialization: lineText(200).optional() })
  .strict()
  .refine((v) => v.name !== undefined || v.specialization !== undefined, {
    message: 'name or specialization is required',
  });

/**
 * Who changes the register: the caller (or an operator's command, such as `npm run db:seed`) and
 * where the call came from (for the audit row).
 */
type Writer = Pick<DomainContext, 'db' | 'requestId' | 'ip' | 'procedure'> &
  Pick<AuditSource, 'actor' | 'command'>;

/** Adds doctors in one transaction with their audit row and events: all or none. */
export function createDoctors(ctx: Writer, items: NewDoctor[]): Promise<DoctorView[]> {
  return ctx.db.transaction(async (tx) => {
    const rows = await doctorsRepo.insertMany(ctx.db, items, tx);
    await recordAudit(ctx, { action: 'create', targets: rows.map(doctorTarget) }, tx);
    await recordEvents(
      ctx.db,
      tx,
      rows.map((doctor) => ({ type: 'doctor.created', entityId: doctor.id })),
    );
    return rows.map(doctorView);
  });
}

/** `doctors.list`: a page of the register by id, optionally matching name or specialization. */
export async function listDoctors(
  ctx: Pick<DomainContext, 'db' | 'reads'>,
  input: z.output<typeof doctorListInput>,
): Promise<Page<DoctorView>> {
  const rows = await doctorsRepo.list(await readDatabase(ctx), input, input.search || undefined);
  return pageOf(rows, input.limit, doctorView);
}

/** How many doctors the register holds (a search's total). */
export async function countDoctors(ctx: Pick<DomainContext, 'db' | 'reads'>): Promise<number> {
  return doctorsRepo.count(await readDatabase(ctx));
}

/** `doctors.get`: one doctor, NOT_FOUND if there is none. */
export async function getDoctor(ctx: Pick<DomainContext, 'db' | 'reads'>, id: number): Promise<DoctorView> {
  const doctor = await doctorsRepo.find(await readDatabase(ctx), id);
  if (!doctor) throw notFound('Doctor');
  return doctorView(doctor);
}

/** `doctors.update`: changes a doctor's fields, audited, with an event naming the fields that changed. */
export function updateDoctor(ctx: Writer, input: z.output<typeof doctorUpdateInput>): Promise<DoctorView> {
  const { id, ...changes } = input;
  return ctx.db.transaction(async (tx) => {
    const updated = await doctorsRepo.update(ctx.db, id, changes, tx);
    if (!updated) throw notFound('Doctor');
    const { doctor, changed } = updated;
    await recordAudit(ctx, { action: 'update', targets: [doctorTarget(doctor)] }, tx);
    if (changed.length)
      await recordEvent(ctx.db, tx, { type: 'doctor.updated', entityId: doctor.id, fields: changed });
    return doctorView(doctor);
  });
}
