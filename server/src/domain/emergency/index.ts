import { accessRepo, doctorsRepo, EMERGENCY_REASON_LENGTH, emergencyRepo, patientsRepo } from '@hdms/db';
import { z } from 'zod';
import { type Page, listInput, pageOf } from '../../lib/pagination';
import { idSchema, lineText } from '../../lib/schemas';
import type { UserActor } from '../actor';
import { recordAudit } from '../audit/record';
import type { DomainContext } from '../context';
import { badInput, conflict, DomainError, forbidden, notFound, tooManyRequests } from '../errors';
import { recordEvents } from '../events/record';

/**
 * Emergency ("break-the-glass") access: a doctor opens the record of a patient outside their care,
 * giving a reason, for a time box. While it is open the doctor reads and writes the record as the
 * care team does (clinical fields only; no export), every read and write is audited with the
 * reason, and the patient sees it in `audit.myAccess`. Opening publishes `emergency.opened` to the
 * admins and the patient's assigned doctor; admins list every access with `audit.emergencyAccess`.
 * The doctor's scope picks an open access up through `loadScope` (`domain/access/scope.ts`).
 */

/** How long an emergency access lasts when `minutes` is not given (or EMERGENCY_MAX_MINUTES if lower). */
export const DEFAULT_EMERGENCY_MINUTES = 60;

/** `access.emergency` input: the patient, why (10-500 characters), and for how long. */
export const emergencyOpenInput = z
  .object({
    patientId: idSchema,
    reason: lineText(EMERGENCY_REASON_LENGTH, 10),
    minutes: z.number().int('must be a whole number of minutes').min(1, 'must be at least 1').optional(),
  })
  .strict();

/** `access.endEmergency` input: the patient whose emergency access (the caller's own) to close. */
export const emergencyEndInput = z.object({ patientId: idSchema }).strict();

/** The states of an emergency access, as lists show and filter them. */
export const EMERGENCY_STATUSES = ['open', 'expired', 'ended'] as const;

/** `audit.emergencyAccess` input: a page, a search (names, reason) and optional filters. */
export const emergencyListInput = listInput
  .extend({
    patientId: idSchema.optional(),
    doctorId: idSchema.optional(),
    status: z.enum(EMERGENCY_STATUSES).optional(),
  })
  .strict();

/** What opening an emergency access answers: which, and until when. */
export interface EmergencyOpened {
  id: number;
  patientId: number;
  expiresAt: Date;
}

/** What ending one answers. */
export interface EmergencyEnded {
  id: number;
  patientId: number;
  endedAt: Date;
}

/** One emergency access as admins see it. */
export interface EmergencyAccessView {
  id: number;
  patientId: number;
  patientName: string;
  doctorId: number;
  doctorName: string;
  /** The account that opened it. */
  openedBy: { userId: number; username: string };
  reason: string;
  createdAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  status: (typeof EMERGENCY_STATUSES)[number];
}

type DoctorContext = Pick<
  DomainContext<UserActor<'doctor'>>,
  'db' | 'actor' | 'scope' | 'config' | 'requestId' | 'ip' | 'procedure'
>;

/** The caller's Doctor record; FORBIDDEN for a doctor account not linked to one. */
function linkedDoctorId(actor: UserActor<'doctor'>): number {
  if (actor.doctorId === null) {
    throw forbidden(
      'Your account is not linked to a doctor record yet; emergency access needs one (ask an admin to link it)',
    );
  }
  return actor.doctorId;
}

/**
 * `access.emergency`: opens the caller's emergency access to a patient outside their care. Refused
 * (with nothing written): an unlinked doctor account (FORBIDDEN), an unknown patient (NOT_FOUND), a
 * patient the doctor already reaches, as assigned doctor, by consent or by an open emergency access
 * (CONFLICT, saying which), `minutes` over EMERGENCY_MAX_MINUTES (BAD_REQUEST), and an opening
 * beyond EMERGENCY_MAX_OPEN open accesses of the doctor (TOO_MANY_REQUESTS, until the first of them
 * ends). The doctor's row is locked before the count, so concurrent openings of one doctor take
 * turns and count each other. The
 * access, its audit row (with the reason) and the `emergency.opened` event commit together.
 */
export async function openEmergencyAccess(
  ctx: DoctorContext,
  input: z.output<typeof emergencyOpenInput>,
): Promise<EmergencyOpened> {
  const doctorId = linkedDoctorId(ctx.actor);
  const { maxMinutes, maxOpen } = ctx.config.emergency;
  const minutes = input.minutes ?? Math.min(DEFAULT_EMERGENCY_MINUTES, maxMinutes);
  if (minutes > maxMinutes) {
    throw badInput(['minutes'], `must be at most ${maxMinutes} (EMERGENCY_MAX_MINUTES)`);
  }
  return ctx.db.transaction(async (tx) => {
    // Break-the-glass reaches beyond the caller's scope by design: any patient that exists. Locks
    // are taken patient first, then doctor, as a consent grant takes them (no deadlock between them).
    const patient = await patientsRepo.findForWrite(ctx.db, 'all', input.patientId, {
      tx,
      lock: 'share',
      columns: ['id', 'doctorId'],
    });
    if (!patient) throw notFound('Patient');
    await doctorsRepo.find(ctx.db, doctorId, { tx, lock: 'update' });
    if (patient.doctorId === doctorId) {
      throw conflict('You already have access to this patient: they are assigned to you');
    }
    const now = new Date();
    const open = await accessRepo.openGrantsOf(ctx.db, doctorId, now, tx);
    const held = open.find((grant) => grant.patientId === patient.id);
    if (held?.kind === 'consent') {
      throw conflict('You already have access to this patient through their consent (consent.list)');
    }
    if (held) {
      throw conflict(
        `You already have emergency access to this patient until ${held.expiresAt!.toISOString()}; end it (access.endEmergency) to open a new one`,
      );
    }
    const emergencies = open.filter((grant) => grant.kind === 'emergency');
    if (emergencies.length >= maxOpen) {
      const firstEnd = Math.min(...emergencies.map((grant) => grant.expiresAt!.getTime()));
      throw tooManyRequests(
        `You hold ${emergencies.length} open emergency accesses, the most allowed at once (EMERGENCY_MAX_OPEN = ${maxOpen}); end one with access.endEmergency first`,
        (firstEnd - now.getTime()) / 1000,
      );
    }
    const access = await emergencyRepo.insert(
      ctx.db,
      {
        patientId: patient.id,
        doctorId,
        reason: input.reason,
        createdByUserId: ctx.actor.id,
        createdAt: now,
        expiresAt: new Date(now.getTime() + minutes * 60_000),
      },
      tx,
    );
    await recordAudit(
      ctx,
      { action: 'create', patientIds: [patient.id], emergency: { id: access.id, reason: access.reason } },
      tx,
    );
    await recordEvents(ctx.db, tx, [
      { type: 'emergency.opened', entityId: access.id, patientId: patient.id },
      { type: 'access.changed', entityId: doctorId },
    ]);
    return { id: access.id, patientId: patient.id, expiresAt: access.expiresAt };
  });
}

/**
 * `access.endEmergency`: closes the caller's open emergency access to a patient before its time
 * (audited with its reason). NOT_FOUND when the caller holds none open to that patient.
 */
export async function endEmergencyAccess(
  ctx: DoctorContext,
  input: z.output<typeof emergencyEndInput>,
): Promise<EmergencyEnded> {
  const doctorId = linkedDoctorId(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const now = new Date();
    const access = await emergencyRepo.openOf(ctx.db, doctorId, input.patientId, now, tx);
    if (!access) throw new DomainError('NOT_FOUND', 'You hold no open emergency access to this patient');
    await emergencyRepo.setEnded(ctx.db, access.id, now, tx);
    await recordAudit(
      ctx,
      {
        action: 'revoke',
        patientIds: [access.patientId],
        emergency: { id: access.id, reason: access.reason },
      },
      tx,
    );
    await recordEvents(ctx.db, tx, [{ type: 'access.changed', entityId: doctorId }]);
    return { id: access.id, patientId: access.patientId, endedAt: now };
  });
}

/** An access's state at `now`. */
function statusOf(row: emergencyRepo.EmergencyRow, now: Date): EmergencyAccessView['status'] {
  if (row.endedAt) return 'ended';
  return row.expiresAt.getTime() > now.getTime() ? 'open' : 'expired';
}

/**
 * `audit.emergencyAccess`: every emergency access, newest first, for admins and audit services:
 * who opened it to which patient, why, when, until when, and its state. Reading it is audited (on
 * the patient, when filtered by one).
 */
export async function listEmergencyAccesses(
  ctx: Pick<DomainContext, 'db' | 'actor' | 'requestId' | 'ip' | 'procedure'>,
  input: z.output<typeof emergencyListInput>,
): Promise<Page<EmergencyAccessView>> {
  const now = new Date();
  const rows = await emergencyRepo.listPage(
    ctx.db,
    {
      patientId: input.patientId,
      doctorId: input.doctorId,
      state: input.status,
      search: input.search || undefined,
      now,
    },
    { limit: input.limit, cursor: input.cursor },
  );
  const page = pageOf(rows, input.limit, (row) => ({
    id: row.id,
    patientId: row.patientId,
    patientName: row.patientName,
    doctorId: row.doctorId,
    doctorName: row.doctorName,
    openedBy: { userId: row.createdByUserId, username: row.openedByUsername },
    reason: row.reason,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    endedAt: row.endedAt ?? null,
    status: statusOf(row, now),
  }));
  await recordAudit(ctx, { action: 'read', patientIds: input.patientId ? [input.patientId] : [] });
  return page;
}
