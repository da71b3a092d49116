import { type AuditAction, auditRepo, type Database, type Transaction } from '@hdms/db';
import { type AccessScope, emergencyFor } from '../access/scope';
import { type Actor, actorName } from '../actor';
import type { DomainContext } from '../context';

/** What an administrative act was done to, for the audit row. */
export interface AuditTarget {
  type: 'serviceToken' | 'user' | 'doctor' | 'job';
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
  /** What each patient row names as its target too (the doctor a consent is given to). */
  patientTarget?: AuditTarget;
  /** Overrides the procedure path, e.g. for a job type. */
  procedure?: string;
  /**
   * The emergency access the act was made under, for every patient row (opening or ending one);
   * otherwise each patient row names the caller's open emergency access to that patient, if any.
   */
  emergency?: { id: number; reason: string };
}

/**
 * Who and where a call came from, as audit rows record it; with the caller's `scope`, a row on a
 * patient the caller holds an open emergency access to carries that access and its reason.
 */
export type AuditSource = Pick<DomainContext, 'db' | 'requestId' | 'ip'> & {
  actor: Actor | null;
  procedure?: string;
  scope?: AccessScope;
  /**
   * An operator's command run on the server (`npm run admin -- reset-mfa`), which has no actor:
   * recorded as actor type `command`, named by this, with the role `operator`.
   */
  command?: string;
};

type AuditRow = auditRepo.NewAuditRow;

/** The most rows one group-committed INSERT carries. */
const MAX_GROUP_ROWS = 2000;

/**
 * Group commit of the audit rows written outside a transaction (reads): the first call inserts
 * its rows at once; calls arriving while that INSERT runs wait and go together in the next one.
 * Every call's promise settles when the INSERT holding its rows has committed (or failed, and
 * then every call in it fails), so each answer still waits for its own rows to be durable; under
 * load, many requests share one statement instead of queueing one each.
 */
class AuditGroup {
  private waiting: { rows: AuditRow[]; done: (error?: unknown) => void }[] = [];
  private writing = false;

  constructor(private readonly db: Database) {}

  append(rows: AuditRow[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ rows, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.writing) void this.write();
    });
  }

  private async write(): Promise<void> {
    this.writing = true;
    while (this.waiting.length) {
      let count = 0;
      let take = 0;
      while (
        take < this.waiting.length &&
        (take === 0 || count + this.waiting[take]!.rows.length <= MAX_GROUP_ROWS)
      ) {
        count += this.waiting[take]!.rows.length;
        take++;
      }
      const group = this.waiting.splice(0, take);
      try {
        await auditRepo.insertAuditRows(
          this.db,
          group.flatMap((call) => call.rows),
        );
        for (const call of group) call.done();
      } catch (error) {
        for (const call of group) call.done(error ?? new Error('audit write failed'));
      }
    }
    this.writing = false;
  }
}

/** One group per database (`db.base`): every request's view of the database shares it. */
const groups = new WeakMap<Database, AuditGroup>();

/**
 * Appends audit rows for one call, and resolves once they are committed. A read or write under
 * emergency access is recorded with that access and its reason (see `AuditSource`).
 * Pass the write's transaction so the trail commits with the change or not at all; a read is
 * audited before its result is returned, so no read goes unaudited (its rows may share an INSERT
 * with other reads' rows: see `AuditGroup`).
 */
export async function recordAudit(
  source: AuditSource,
  entry: AuditEntry,
  transaction?: Transaction,
): Promise<void> {
  const actor = source.actor;
  const nobody = source.command === undefined ? 'anonymous' : 'command';
  const base = {
    actorType: actor?.type ?? nobody,
    actorId: actor?.id ?? null,
    actorName: actor ? actorName(actor) : (source.command ?? 'anonymous'),
    actorRole: actor
      ? actor.type === 'user'
        ? actor.role
        : 'service'
      : nobody === 'command'
        ? 'operator'
        : 'anonymous',
    action: entry.action,
    procedure: entry.procedure ?? source.procedure ?? 'unknown',
    requestId: source.requestId,
    ip: source.ip,
  };
  const patientIds = [...new Set(entry.patientIds ?? [])];
  const only = entry.patientTarget;
  const target = only
    ? { targetType: only.type, targetId: only.id, targetName: only.name?.slice(0, 120) ?? null }
    : {};
  const rows: AuditRow[] = patientIds.length
    ? patientIds.map((patientId) => {
        const emergency = entry.emergency ?? emergencyFor(source.scope, patientId);
        return emergency
          ? { ...base, ...target, patientId, emergencyAccessId: emergency.id, reason: emergency.reason }
          : { ...base, ...target, patientId };
      })
    : (entry.targets?.length ? entry.targets : [null]).map((target) => ({
        ...base,
        patientId: null,
        targetType: target?.type ?? null,
        targetId: target?.id ?? null,
        targetName: target?.name?.slice(0, 120) ?? null,
      }));
  if (transaction) {
    await auditRepo.insertAuditRows(source.db, rows, { tx: transaction });
    return;
  }
  let group = groups.get(source.db.base);
  if (!group) {
    group = new AuditGroup(source.db.base);
    groups.set(source.db.base, group);
  }
  return group.append(rows);
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
