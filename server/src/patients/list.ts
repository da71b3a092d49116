import { Op, type Patient } from '@hdms/db';
import type { FindOptions } from 'sequelize';
import type { z } from 'zod';
import { patientScope } from '../access';
import type { Actor } from '../context';
import { containsText } from '../search';
import { idAfter, idSchema, listInput } from '../validation';
import { patientAttributes } from './view';

/** The input of `patients.list`: a keyset page, a name search and an optional doctor filter. */
export const patientListInput = listInput.extend({ doctorId: idSchema.optional() });

/** A validated `patients.list` input. */
export type PatientListInput = z.infer<typeof patientListInput>;

/**
 * The query of one page of patients for this actor, with the actor's scope in the WHERE clause,
 * ordered by id so that `(doctor_id, id)` or the primary key serves it without a sort. Asks for
 * `limit + 1` rows (see `page`). Null when the actor reaches no patient at all.
 */
export function listPatientsQuery(actor: Actor, input: PatientListInput): FindOptions<Patient> | null {
  const scope = patientScope(actor, 'patients:read');
  if (scope === null) return null;
  return {
    attributes: patientAttributes(actor),
    where: {
      [Op.and]: [
        scope,
        input.doctorId === undefined ? {} : { doctorId: input.doctorId },
        idAfter(input.cursor),
        input.search ? containsText(['name'], input.search) : {},
      ],
    },
    order: [['id', 'ASC']],
    limit: input.limit + 1,
  };
}
