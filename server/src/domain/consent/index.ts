import { consentsRepo, doctorsRepo, patientsRepo } from '@hdms/db';
import { z } from 'zod';
import { emptyPage, listInput, type Page, pageOf } from '../../lib/pagination';
import { idSchema } from '../../lib/schemas';
import type { UserActor } from '../actor';
import { recordAudit } from '../audit/record';
import type { DomainContext } from '../context';
import { badInput, conflict, DomainError, forbidden } from '../errors';
import { recordEvent } from '../events/record';

/**
 * Consent: a patient gives a doctor (a Doctor record other than their assigned doctor) the care
 * team's rights over their record — reads, clinical updates, notes, check-ups, events, the export —
 * until a time or until they revoke it, without changing their assigned doctor; admission data
 * (demographics, doctor, room, bed) stays the admins' and the assigned doctor's. The doctor's scope
 * picks a grant up through `loadScope` (`domain/access/scope.ts`); a grant or revocation takes
 * effect on the doctor's next request, job run and event (an `access.changed` event makes open
 * subscriptions load their scope again).
 */

/** The furthest ahead a grant's `until` may be. */
const MAX_UNTIL_YEARS = 10;

/** `consent.grant` input: the Doctor record's id, and optionally when the grant ends (in the future). */
export const consentGrantInput = z
  .object({
    doctorId: idSchema,
    until: z
      .date({ invalid_type_error: 'must be a date' })
      .refine((d) => d.getTime() > Date.now(), 'must be in the future')
      .refine(
        (d) => d.getTime() <= Date.now() + MAX_UNTIL_YEARS * 365.25 * 86_400_000,
        `must be at most ${MAX_UNTIL_YEARS} years from now`,
      )
      .nullish(),
  })
  .strict();

/** `consent.revoke` input: one of the caller's grants. */
export const consentRevokeInput = z.object({ id: idSchema }).strict();

/** A grant's states. */
export const CONSENT_STATUSES = ['active', 'expired', 'revoked'] as const;

/** `consent.list` input: the usual page and search (the doctor's or patient's name), and a status. */
export const consentListInput = listInput.extend({ status: z.enum(CONSENT_STATUSES).optional() }).strict();

/** A consent grant as the patient who gave it and the doctor who holds it see it. */
export interface ConsentView {
  id: number;
  patientId: number;
  patientName: string;
  doctorId: number;
  doctorName: string;
  /** When it ends by itself; null: until revoked. */
  until: Date | null;
  createdAt: Date;
  revokedAt: Date | null;
  status: (typeof CONSENT_STATUSES)[number];
}

type Row = consentsRepo.ConsentRow & { patientName: string; doctorName: string };

/** Maps a grant to its view, with its state at `now`. */
function consentView(row: Row, now: Date): ConsentView {
  const status = row.revokedAt
    ? 'revoked'
    : row.expiresAt && row.expiresAt.getTime() <= now.getTime()
      ? 'expired'
      : 'active';
  return {
    id: row.id,
    patientId: row.patientId,
    patientName: row.patientName,
    doctorId: row.doctorId,
    doctorName: row.doctorName,
    until: row.expiresAt ?? null,
    createdAt: row.createdAt,
    revokedAt: row.revokedAt ?? null,
    status,
  };
}

type PatientContext = Pick<
  DomainContext<UserActor<'patient'>>,
  'db' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'
>;

/**
 * `consent.grant`: the calling patient opens their record to a doctor. Refused, with nothing
 * written: an account not linked to a patient record (FORBIDDEN), an unknown doctor (BAD_REQUEST at
 * `doctorId`), their own assigned doctor (CONFLICT: they have access already) and a doctor who
 * already holds a grant of theirs in force (CONFLICT naming it: revoke it to give another). The
 * patient's row is locked, so concurrent grants of one patient see each other.
 */
export async function grantConsent(
  ctx: PatientContext,
  input: z.output<typeof consentGrantInput>,
): Promise<ConsentView> {
  const patientId = ctx.actor.patientId;
  if (patientId === null) {
    throw forbidden('Your account is not linked to a patient record yet; ask an admin to link it');
  }
  return ctx.db.transaction(async (tx) => {
    const patient = await patientsRepo.findForWrite(ctx.db, 'all', patientId, {
      tx,
      lock: 'update',
      columns: ['id', 'name', 'doctorId'],
    });
    if (!patient) throw forbidden('Your patient record no longer exists');
    const doctor = await doctorsRepo.find(ctx.db, input.doctorId, { tx, lock: 'share' });
    if (!doctor) throw badInput(['doctorId'], 'Doctor not found');
    if (patient.doctorId === doctor.id) {
      throw conflict(`${doctor.name} is your assigned doctor and already has access to your record`);
    }
    const now = new Date();
    const existing = await consentsRepo.activeBetween(ctx.db, patientId, doctor.id, now, tx);
    if (existing) {
      const until = existing.expiresAt ? ` until ${existing.expiresAt.toISOString()}` : ' until revoked';
      throw conflict(
        `${doctor.name} already holds your consent (grant ${existing.id}${until}); revoke it (consent.revoke) to give a new one`,
      );
    }
    const grant = await consentsRepo.insert(
      ctx.db,
      { patientId, doctorId: doctor.id, expiresAt: input.until ?? null, createdByUserId: ctx.actor.id },
      tx,
    );
    await recordAudit(
      ctx,
      {
        action: 'create',
        patientIds: [patientId],
        patientTarget: { type: 'doctor', id: doctor.id, name: doctor.name },
      },
      tx,
    );
    await recordEvent(ctx.db, tx, { type: 'access.changed', entityId: doctor.id });
    return consentView({ ...grant, patientName: patient.name, doctorName: doctor.name }, now);
  });
}

/**
 * `consent.revoke`: ends one of the calling patient's grants at once (the doctor's next request,
 * job run and event already go without it). Revoking a grant that has ended (revoked or expired)
 * changes nothing and answers it as it is. Another patient's grant, or none, is NOT_FOUND.
 */
export async function revokeConsent(
  ctx: PatientContext,
  input: z.output<typeof consentRevokeInput>,
): Promise<ConsentView> {
  const patientId = ctx.actor.patientId;
  return ctx.db.transaction(async (tx) => {
    const grant =
      patientId === null
        ? null
        : await consentsRepo.findOfPatient(ctx.db, patientId, input.id, { tx, lock: 'update' });
    if (!grant) throw new DomainError('NOT_FOUND', 'Consent grant not found');
    const patient = await patientsRepo.findForWrite(ctx.db, 'all', grant.patientId, {
      tx,
      columns: ['id', 'name'],
    });
    const doctor = await doctorsRepo.find(ctx.db, grant.doctorId, { tx });
    const names = { patientName: patient?.name ?? '', doctorName: doctor?.name ?? '' };
    const now = new Date();
    const view = consentView({ ...grant, ...names }, now);
    if (view.status !== 'active') return view;
    await consentsRepo.setRevoked(ctx.db, grant.id, now, tx);
    await recordAudit(
      ctx,
      {
        action: 'revoke',
        patientIds: [grant.patientId],
        patientTarget: { type: 'doctor', id: grant.doctorId, name: names.doctorName },
      },
      tx,
    );
    await recordEvent(ctx.db, tx, { type: 'access.changed', entityId: grant.doctorId });
    return consentView({ ...grant, ...names, revokedAt: now }, now);
  });
}

/**
 * `consent.list`: a patient's grants (those they gave) or a doctor's (those their Doctor record
 * holds), newest first, with the names of both sides; an account linked to no record gets an empty
 * page. Audited as a read of each patient listed.
 */
export async function listConsents(
  ctx: Pick<
    DomainContext<UserActor<'doctor' | 'patient'>>,
    'db' | 'actor' | 'requestId' | 'ip' | 'procedure'
  >,
  input: z.output<typeof consentListInput>,
): Promise<Page<ConsentView>> {
  const { actor } = ctx;
  const owner =
    actor.role === 'patient'
      ? actor.patientId === null
        ? null
        : { patientId: actor.patientId }
      : actor.doctorId === null
        ? null
        : { doctorId: actor.doctorId };
  if (!owner) return emptyPage<ConsentView>();
  const now = new Date();
  const rows = await consentsRepo.listPage(
    ctx.db,
    { ...owner, state: input.status, search: input.search || undefined, now },
    { limit: input.limit, cursor: input.cursor },
  );
  const page = pageOf(rows, input.limit, (row) => consentView(row, now));
  if (page.items.length) {
    await recordAudit(ctx, { action: 'read', patientIds: page.items.map((grant) => grant.patientId) });
  }
  return page;
}
