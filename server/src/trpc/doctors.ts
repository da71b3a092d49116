import type { Attributes } from 'sequelize';
import type { Doctor } from '@hdms/db';
import { z } from 'zod';
import type { ProcedureContext } from '../context';
import { notFound } from '../domain/errors';
import { listInput, listPage } from '../lib/pagination';
import { batchOf, idSchema, lineText } from '../lib/schemas';
import { containsText } from '../lib/search';
import { authedProcedure, rejectArray, roleOrServiceProcedure } from './procedures';
import { recordEvent, recordEvents } from '../domain/events/record';
import { router } from './init';
import { type AuditTarget, recordAudit } from '../domain/audit/record';

/** A doctor of the register, as clients see it. */
export interface DoctorView {
  id: number;
  name: string;
  specialization: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Maps a `Doctor` row to its client view with an explicit field list. */
export function doctorView(doctor: Attributes<Doctor>): DoctorView {
  return {
    id: doctor.id,
    name: doctor.name,
    specialization: doctor.specialization,
    createdAt: doctor.createdAt,
    updatedAt: doctor.updatedAt,
  };
}

/** How audit rows name a doctor of the register. */
function doctorTarget(doctor: Doctor): AuditTarget {
  return { type: 'doctor', id: doctor.id, name: doctor.name };
}

/** One doctor to add to the register. */
export const doctorInput = z.object({ name: lineText(200), specialization: lineText(200) }).strict();
/** Doctors to add in one all-or-nothing batch. */
export const doctorsInput = batchOf(doctorInput);

const updateInput = z
  .object({ id: idSchema, name: lineText(200).optional(), specialization: lineText(200).optional() })
  .strict()
  .refine((v) => v.name !== undefined || v.specialization !== undefined, {
    message: 'name or specialization is required',
  });

/** Adds doctors in one transaction with their audit row: all or none. */
async function createDoctors(
  ctx: ProcedureContext,
  items: z.output<typeof doctorInput>[],
): Promise<DoctorView[]> {
  return ctx.db.transaction(async (tx) => {
    const rows = await ctx.db.models.Doctor.bulkCreate(items, { transaction: tx, validate: true });
    await recordAudit(ctx, { action: 'create', targets: rows.map(doctorTarget) }, tx);
    await recordEvents(
      tx,
      rows.map((doctor) => ({ type: 'doctor.created', entityId: doctor.id })),
    );
    return rows.map(doctorView);
  });
}

/** The doctors' register: admins write it, every signed-in person reads it. */
export const doctorsRouter = router({
  create: roleOrServiceProcedure('admin')
    .meta({
      description: 'Add one doctor (admin). For several at once, use createMany.',
      scope: 'doctors:write',
    })
    .use(rejectArray('doctors.createMany'))
    .input(doctorInput)
    .mutation(async ({ ctx, input }) => (await createDoctors(ctx, [input]))[0]!),

  createMany: roleOrServiceProcedure('admin')
    .meta({
      description:
        "Add an array of doctors (admin), all or nothing: one bad item rejects the batch, naming the item's index.",
      scope: 'doctors:write',
    })
    .input(doctorsInput)
    .mutation(({ ctx, input }) => createDoctors(ctx, input)),

  list: authedProcedure
    .meta({
      description:
        'Doctors by id, a page at a time (cursor = the last id seen). `search` matches name or specialization, ignoring case.',
      scope: 'doctors:read',
    })
    .input(listInput.default({}))
    .query(({ ctx, input }) =>
      listPage(
        ctx.db.models.Doctor,
        input,
        { where: input.search ? [containsText(['name', 'specialization'], input.search)] : [] },
        doctorView,
      ),
    ),

  get: authedProcedure
    .meta({ description: 'One doctor by id.', scope: 'doctors:read' })
    .input(z.object({ id: idSchema }).strict())
    .query(async ({ ctx, input }) => {
      const doctor = await ctx.db.models.Doctor.findByPk(input.id);
      if (!doctor) throw notFound('Doctor');
      return doctorView(doctor);
    }),

  update: roleOrServiceProcedure('admin')
    .meta({ description: "Change a doctor's name or specialization (admin).", scope: 'doctors:write' })
    .input(updateInput)
    .mutation(async ({ ctx, input }) => {
      const { id, ...changes } = input;
      return ctx.db.transaction(async (tx) => {
        const doctor = await ctx.db.models.Doctor.findByPk(id, { transaction: tx, lock: tx.LOCK.UPDATE });
        if (!doctor) throw notFound('Doctor');
        doctor.set(changes);
        const fields = (doctor.changed() || []) as string[];
        await doctor.save({ transaction: tx });
        await recordAudit(ctx, { action: 'update', targets: [doctorTarget(doctor)] }, tx);
        if (fields.length) await recordEvent(tx, { type: 'doctor.updated', entityId: doctor.id, fields });
        return doctorView(doctor);
      });
    }),
});
