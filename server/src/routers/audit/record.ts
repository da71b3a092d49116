import type { AuditAction, Transaction } from '@hdms/db';
import { actorName, type Context } from '../../context';

/** What an administrative act was done to, for the audit row. */
export interface AuditTarget {
  type: 'serviceToken' | 'user' | 'doctor';
  id: number;
  name?: string;
}

/**
 * What audit rows say happened: one row per patient touched, else one per target, else one row
 * naming neither.
 */
interface AuditEntry {
  action: AuditAction;
  patientIds?: number[];
  targets?: AuditTarget[];
  /** Overrides the procedure path, e.g. for a job type. */
  procedure?: string;
}

/** Who and where a call came from, as audit rows record it. */
export type AuditSource = Pick<Context, 'db' | 'actor' | 'requestId' | 'ip'> & { procedure?: string };

/**
 * Appends audit rows for one call.
 * Pass the write's transaction so the trail commits with the change or not at all; a read is
 * audited before its result is returned, so no read goes unaudited.
 */
export async function recordAudit(
  source: AuditSource,
  entry: AuditEntry,
  transaction?: Transaction,
): Promise<void> {
  const actor = source.actor;
  const base = {
    actorType: actor?.type ?? 'anonymous',
    actorId: actor?.id ?? null,
    actorName: actor ? actorName(actor) : 'anonymous',
    actorRole: actor ? (actor.type === 'user' ? actor.role : 'service') : 'anonymous',
    action: entry.action,
    procedure: entry.procedure ?? source.procedure ?? 'unknown',
    requestId: source.requestId,
    ip: source.ip,
  };
  const patientIds = [...new Set(entry.patientIds ?? [])];
  const rows = patientIds.length
    ? patientIds.map((patientId) => ({ ...base, patientId }))
    : (entry.targets?.length ? entry.targets : [null]).map((target) => ({
        ...base,
        patientId: null,
        targetType: target?.type ?? null,
        targetId: target?.id ?? null,
        targetName: target?.name?.slice(0, 120) ?? null,
      }));
  await source.db.models.AuditEvent.bulkCreate(rows, { transaction });
}

/** The patient ids a call's raw input names: `patientId` anywhere at the top (or in batch items), `id` for `patients.*`. */
function patientIdsNamed(procedure: string, input: unknown): number[] {
  const items = Array.isArray(input) ? input.slice(0, 1000) : [input];
  const ids = items.flatMap((item) => {
    if (item === null || typeof item !== 'object') return [];
    const named = item as Record<string, unknown>;
    return [named.patientId, procedure.startsWith('patients.') ? named.id : undefined];
  });
  return ids.filter(
    (id): id is number => Number.isInteger(id) && (id as number) > 0 && (id as number) < 2 ** 31,
  );
}

/**
 * Records a refused attempt on patients' records (out of scope, wrong role): who, which
 * procedure, which patient ids, when — written apart from the refused call (whose transaction
 * rolled back), and never failing the answer, which stays the caller's plain refusal.
 */
export async function recordRefusal(
  source: AuditSource & { procedure: string },
  input: unknown,
): Promise<void> {
  const patientIds = patientIdsNamed(source.procedure, input);
  if (!source.actor || patientIds.length === 0) return;
  await recordAudit(source, { action: 'denied', patientIds });
}
