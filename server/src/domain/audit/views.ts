import type { AuditAction, auditRepo } from '@hdms/db';

/**
 * One audit row as admins and audit services see it: who, what kind of act, on which patient,
 * through which procedure, when. Audit rows hold no clinical content.
 */
export interface AuditEventView {
  id: number;
  actorType: string;
  actorId: number | null;
  actorName: string;
  actorRole: string;
  action: AuditAction;
  patientId: number | null;
  procedure: string;
  requestId: string;
  ip: string | null;
  target: { type: string; id: number | null; name: string | null } | null;
  /** True when the act was made under emergency access (break-the-glass). */
  emergency: boolean;
  /** That emergency access's id, and the reason given to open it. */
  emergencyAccessId: number | null;
  reason: string | null;
  createdAt: Date;
}

/**
 * One access to a patient's own record, as that patient sees it: who and what, no request
 * details; an access under emergency access says so, with the reason given.
 */
export type MyAccessView = Pick<
  AuditEventView,
  'id' | 'actorName' | 'actorRole' | 'action' | 'procedure' | 'emergency' | 'reason' | 'createdAt'
>;

/** Maps an `AuditEvent` row to the admin view with an explicit field list. */
export function auditEventView(row: auditRepo.AuditRow): AuditEventView {
  return {
    id: row.id,
    actorType: row.actorType,
    actorId: row.actorId ?? null,
    actorName: row.actorName,
    actorRole: row.actorRole,
    action: row.action,
    patientId: row.patientId ?? null,
    procedure: row.procedure,
    requestId: row.requestId,
    ip: row.ip ?? null,
    target: row.targetType
      ? { type: row.targetType, id: row.targetId ?? null, name: row.targetName ?? null }
      : null,
    emergency: row.emergencyAccessId != null,
    emergencyAccessId: row.emergencyAccessId ?? null,
    reason: row.reason ?? null,
    createdAt: row.createdAt,
  };
}

/** Maps an `AuditEvent` row to the patient's view. */
export function myAccessView(row: auditRepo.AuditRow): MyAccessView {
  return {
    id: row.id,
    actorName: row.actorName,
    actorRole: row.actorRole,
    action: row.action,
    procedure: row.procedure,
    emergency: row.emergencyAccessId != null,
    reason: row.reason ?? null,
    createdAt: row.createdAt,
  };
}
