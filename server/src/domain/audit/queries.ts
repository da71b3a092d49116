import { type AuditAction, auditRepo } from '@hdms/db';
import { type DomainContext, readDatabase } from '../context';
import { emptyPage, type Page } from '../../lib/pagination';
import { recordAudit } from './record';
import { type AuditEventView, auditEventView, type MyAccessView, myAccessView } from './views';

/** A page request: at most `limit` rows after the cursor (the last id seen). */
interface PageRequest {
  limit: number;
  cursor?: number | null;
}

/** What `audit.list` filters by. */
export interface AuditListFilter {
  patientId?: number;
  actorType?: 'user' | 'service' | 'anonymous' | 'command';
  actorId?: number;
  action?: AuditAction;
  from?: Date;
  to?: Date;
}

/** A page of rows newest first, mapped to views; `nextCursor` when more rows follow. */
async function pageOf<View>(
  ctx: Pick<DomainContext, 'db' | 'reads'>,
  filter: auditRepo.AuditFilter,
  input: PageRequest,
  view: (row: auditRepo.AuditRow) => View,
): Promise<Page<View>> {
  const rows = await auditRepo.listNewestFirst(await readDatabase(ctx), filter, {
    limit: input.limit + 1,
    before: input.cursor,
  });
  const items = rows.slice(0, input.limit);
  return {
    items: items.map(view),
    nextCursor: rows.length > input.limit ? (items[items.length - 1]?.id ?? null) : null,
  };
}

/**
 * A page of the audit trail for admins and audit services, newest first. Reading the trail is
 * itself on the trail (on the patient, when the reader filtered by one).
 */
export async function listAudit(
  ctx: Pick<DomainContext, 'db' | 'actor' | 'requestId' | 'ip' | 'procedure'>,
  input: PageRequest & AuditListFilter,
): Promise<Page<AuditEventView>> {
  const { limit, cursor, ...filter } = input;
  const page = await pageOf(ctx, filter, { limit, cursor }, auditEventView);
  await recordAudit(ctx, { action: 'read', patientIds: input.patientId ? [input.patientId] : [] });
  return page;
}

/**
 * Who read or changed the calling patient's record, newest first (refused attempts are for
 * admins); an account not yet linked to a patient record gets an empty page.
 */
export function listMyAccess(
  ctx: Pick<DomainContext, 'db'> & { actor: { patientId: number | null } },
  input: PageRequest,
): Promise<Page<MyAccessView>> {
  const { patientId } = ctx.actor;
  if (patientId === null) return Promise.resolve(emptyPage<MyAccessView>());
  return pageOf(ctx, { patientId, notAction: 'denied' }, input, myAccessView);
}
