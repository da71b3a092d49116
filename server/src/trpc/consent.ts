import {
  consentGrantInput,
  consentListInput,
  consentRevokeInput,
  grantConsent,
  listConsents,
  revokeConsent,
} from '../domain/consent/index';
import { router } from './init';
import { roleProcedure } from './procedures';

/**
 * Consent: patients open their record to doctors beyond their assigned doctor, and close it again.
 * Patients grant and revoke; patients and doctors list. Never admins or services.
 */
export const consentRouter = router({
  grant: roleProcedure('patient')
    .meta({
      description:
        "Give a doctor (`doctorId`: the Doctor record's id) the care team's rights over your record (patient): reads, clinical updates, notes, check-ups, events and the export, until `until` (in the future; none: until you revoke it). Your assigned doctor does not change, and admission data (demographics, doctor, room, bed) stays with them and the admins. Returns the grant. CONFLICT for your assigned doctor, or a doctor who already holds a grant of yours in force.",
    })
    .input(consentGrantInput)
    .mutation(({ ctx, input }) => grantConsent(ctx, input)),

  revoke: roleProcedure('patient')
    .meta({
      description:
        "Revoke one of your consent grants (patient): the doctor's access ends at once, subscriptions included. Revoking a grant that has already ended changes nothing. Returns the grant.",
    })
    .input(consentRevokeInput)
    .mutation(({ ctx, input }) => revokeConsent(ctx, input)),

  list: roleProcedure('doctor', 'patient')
    .meta({
      description:
        'Consent grants, newest first, a page at a time (cursor = the last id seen): a patient sees the grants they gave, a doctor the grants they hold. Each with both names, `until` and `status` (active, expired, revoked); filter with `status`, `search` (a name).',
    })
    .input(consentListInput.default({}))
    .query(({ ctx, input }) => listConsents(ctx, input)),
});
