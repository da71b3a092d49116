import type { Database } from '../connection';
import { toDate } from '../plain';
import { selectRows } from '../sql';
import type { Tx } from './tx';

/**
 * What opens patients' records to a doctor beyond their assigned patients, read in one query per
 * request (or job run, or subscription recheck): the doctor's consents in force and open emergency
 * accesses, at `now`. The server's access module turns them into the doctor's scope.
 */

/** One grant that opens a patient's record to a doctor now. */
export interface OpenGrantRow {
  kind: 'consent' | 'emergency';
  /** The consent grant's or the emergency access's id. */
  id: number;
  patientId: number;
  /** When it ends by itself; null for a consent given until revoked. */
  expiresAt: Date | null;
  /** An emergency access's reason; null for a consent. */
  reason: string | null;
}

/**
 * The consents in force and the open emergency accesses of Doctor record `doctorId` at `now`: one
 * written-out statement (a UNION ALL of two reads, each on its table's `(doctor_id, …)` index).
 */
export async function openGrantsOf(
  db: Database,
  doctorId: number,
  now: Date,
  tx?: Tx,
): Promise<OpenGrantRow[]> {
  const rows = await selectRows<Record<string, unknown>>(
    db,
    `SELECT 'consent' AS kind, id, patient_id AS patientId, expires_at AS expiresAt, NULL AS reason
       FROM consent_grants
      WHERE doctor_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
     UNION ALL
     SELECT 'emergency' AS kind, id, patient_id AS patientId, expires_at AS expiresAt, reason
       FROM emergency_accesses
      WHERE doctor_id = ? AND ended_at IS NULL AND expires_at > ?`,
    [doctorId, now, doctorId, now],
    tx,
  );
  return rows.map((row) => ({
    kind: row.kind === 'emergency' ? 'emergency' : 'consent',
    id: Number(row.id),
    patientId: Number(row.patientId),
    expiresAt: row.expiresAt === null ? null : (toDate(row.expiresAt) as Date),
    reason: (row.reason as string | null) ?? null,
  }));
}
