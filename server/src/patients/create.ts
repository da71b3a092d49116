import { TRPCError } from '@trpc/server';
import { recordAudit } from '../audit';
import type { Context } from '../context';
import type { PatientCreateItem } from './fields';
import { type PatientView, patientView } from './view';

type CreateContext = Pick<Context, 'db' | 'actor' | 'requestId' | 'ip'> & {
  actor: NonNullable<Context['actor']>;
  procedure?: string;
};

/**
 * Admits patients: all in one transaction and one bulk insert, or none. An admin (or a service)
 * assigns any existing doctor, or none; a doctor admits only patients assigned to their own
 * linked doctor record, which is the default. Every referenced doctor must exist. A failure names
 * the item's index when the input was an array (`batch`).
 */
export async function createPatients(
  ctx: CreateContext,
  items: PatientCreateItem[],
  batch: boolean,
): Promise<PatientView[]> {
  const { actor } = ctx;
  const at = (index: number) => (batch ? `item ${index}: ` : '');
  const rows = items.map((item, index) => {
    let doctorId = item.doctorId ?? null;
    if (actor.type === 'user' && actor.role === 'doctor') {
      if (actor.doctorId === null) {
        throw new TRPCError({
          code: 'FORBIDDEN',
          message: 'Your account is not linked to a doctor record yet; ask an admin to link it',
        });
      }
      if (item.doctorId !== undefined && item.doctorId !== actor.doctorId) {
        throw new TRPCError({
          code: 'FORBIDDEN',
          message: `${at(index)}doctors may only admit patients assigned to themselves (doctorId ${actor.doctorId})`,
        });
      }
      doctorId = actor.doctorId;
    }
    return {
      name: item.name,
      age: item.age,
      gender: item.gender,
      doctorId,
      roomNumber: item.roomNumber ?? null,
      bedNumber: item.bedNumber ?? null,
    };
  });

  return ctx.db.transaction(async (tx) => {
    const wanted = [...new Set(rows.flatMap((r) => (r.doctorId === null ? [] : [r.doctorId])))];
    if (wanted.length) {
      const found = await ctx.db.models.Doctor.findAll({
        where: { id: wanted },
        attributes: ['id'],
        transaction: tx,
      });
      const known = new Set(found.map((d) => d.id));
      const index = rows.findIndex((r) => r.doctorId !== null && !known.has(r.doctorId));
      if (index >= 0) {
        throw new TRPCError({
          code: 'BAD_REQUEST',
          message: `${at(index)}doctorId ${rows[index]!.doctorId} does not exist`,
        });
      }
    }
    const patients = await ctx.db.models.Patient.bulkCreate(rows, { transaction: tx, validate: true });
    await recordAudit(ctx, { action: 'create', patientIds: patients.map((p) => p.id) }, tx);
    return patients.map((p) => patientView(actor, p));
  });
}
