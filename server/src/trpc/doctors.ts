import {
  createDoctors,
  doctorGetInput,
  doctorInput,
  doctorListInput,
  doctorsInput,
  doctorUpdateInput,
  getDoctor,
  listDoctors,
  updateDoctor,
} from '../domain/doctors/index';
import { router } from './init';
import { authedProcedure, rejectArray, roleOrServiceProcedure } from './procedures';

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
    .input(doctorListInput.default({}))
    .query(({ ctx, input }) => listDoctors(ctx, input)),

  get: authedProcedure
    .meta({ description: 'One doctor by id.', scope: 'doctors:read' })
    .input(doctorGetInput)
    .query(({ ctx, input }) => getDoctor(ctx, input.id)),

  update: roleOrServiceProcedure('admin')
    .meta({ description: "Change a doctor's name or specialization (admin).", scope: 'doctors:write' })
    .input(doctorUpdateInput)
    .mutation(({ ctx, input }) => updateDoctor(ctx, input)),
});
