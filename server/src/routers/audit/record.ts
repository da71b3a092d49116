import type { AuditAction, Transaction } from '@hdms/db';
import { actorName, type Context } from '../../context';

/** What an audit row says happened. `patientIds` empty means an act on no patient (e.g. a link). */
export interface AuditEntry {
  action: AuditAction;
  patientIds: number[];
  /** Overrides the procedure path, e.g. for a job type. */
  procedure?: string;
}

/** Who and where a call came from, as audit rows record it. */
export type AuditSource = Pick<Context, 'db' | 'actor' | 'requestId' | 'ip'> & { procedure?: string };

/**
 * Appends audit rows for one call: one row per patient touched (or one row with no patient).
 * Pass the write's transaction so the trail commits with the change or not at all; a read is
 * audited before its result is returned, so no read goes unaudited.
 */
export async function recordAudit(source: AuditSource, entry: AuditEntry, transaction?: Transaction): Promise<void> {
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
  const patientIds = entry.patientIds.length ? [...new Set(entry.patientIds)] : [null];
  await source.db.models.AuditEvent.bulkCreate(
    patientIds.map((patientId) => ({ ...base, patientId })),
    { transaction },
  );
}
