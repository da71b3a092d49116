import { type Doctor, Op } from '@hdms/db';
import { z } from 'zod';
import { recordAudit } from '../audit';
import { notFound } from '../errors';
import { authedProcedure, roleProcedure } from '../procedures/index';
import { containsText } from '../search';
import { router } from '../trpc';
import { idAfter, idSchema, listInput, oneOrMany, page } from '../validation';

/** A doctor of the register, as clients see it. */
export interface DoctorView {
  id: number;
  name: string;
  specialization: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Maps a `Doctor` row to its client view with an explicit field list. */
export function doctorView(doctor: Doctor): DoctorView {
  return {
    id: doctor.id,
    name: doctor.name,
    specialization: doctor.specialization,
    createdAt: doctor.createdAt,
    updatedAt: doctor.updatedAt,
  };
}

const name = z.string().trim().min(1, 'is required').max(200);
const specialization = z.string().trim().min(1, 'is required').max(200);

const doctorInput = z.object({ name, specialization }).strict();

const updateInput = z
  .object({ id: idSchema, name: name.optional(), specialization: specialization.optional() })
  .strict()
  .refine((v) => v.name !== undefined || v.specialization !== undefined, {
    message: 'name or specialization is required',
  });

/** The doctors' register: admins write it, every signed-in person reads it. */
export const doctorsRouter = router({
  create: roleProcedure('admin')
    .meta({
      description:
        'Add one doctor or an array of doctors (admin). An array is all-or-nothing: one bad item rejects the batch.',
      scope: 'doctors:write',
    })
    .input(oneOrMany(doctorInput))
    .mutation(async ({ ctx, input }) => {
      const items = Array.isArray(input) ? input : [input];
      const doctors = await ctx.db.transaction(async (tx) => {
        const rows = await ctx.db.models.Doctor.bulkCreate(items, { transaction: tx, validate: true });
        await recordAudit(ctx, { action: 'create', patientIds: [] }, tx);
        return rows.map(doctorView);
      });
      return Array.isArray(input) ? doctors : doctors[0]!;
    }),

  list: authedProcedure
    .meta({
      description:
        'Doctors by id, a page at a time (cursor = the last id seen). `search` matches name or specialization, ignoring case.',
      scope: 'doctors:read',
    })
    .input(listInput.default({}))
    .query(async ({ ctx, input }) => {
      const rows = await ctx.db.models.Doctor.findAll({
        where: {
          [Op.and]: [
            idAfter(input.cursor),
            input.search ? containsText(['name', 'specialization'], input.search) : {},
          ],
        },
        order: [['id', 'ASC']],
        limit: input.limit + 1,
      });
      return page(rows.map(doctorView), input.limit);
    }),

  get: authedProcedure
    .meta({ description: 'One doctor by id.', scope: 'doctors:read' })
    .input(z.object({ id: idSchema }).strict())
    .query(async ({ ctx, input }) => {
      const doctor = await ctx.db.models.Doctor.findByPk(input.id);
      if (!doctor) throw notFound('Doctor');
      return doctorView(doctor);
    }),

  update: roleProcedure('admin')
    .meta({ description: "Change a doctor's name or specialization (admin).", scope: 'doctors:write' })
    .input(updateInput)
    .mutation(async ({ ctx, input }) => {
      const { id, ...changes } = input;
      return ctx.db.transaction(async (tx) => {
        const doctor = await ctx.db.models.Doctor.findByPk(id, { transaction: tx, lock: tx.LOCK.UPDATE });
        if (!doctor) throw notFound('Doctor');
        await doctor.update(changes, { transaction: tx });
        await recordAudit(ctx, { action: 'update', patientIds: [] }, tx);
        return doctorView(doctor);
      });
    }),
});
