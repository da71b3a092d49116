import {
  emergencyEndInput,
  emergencyOpenInput,
  endEmergencyAccess,
  openEmergencyAccess,
} from '../domain/emergency/index';
import { router } from './init';
import { roleProcedure } from './procedures';

/**
 * Clinical access beyond the care team that a doctor opens themself: emergency ("break-the-glass")
 * access. Doctors only (linked to a Doctor record); never services, patients or admins.
 */
export const accessRouter = router({
  emergency: roleProcedure('doctor')
    .meta({
      description:
        "Emergency (break-the-glass) access to a patient outside your care (doctor): give a `reason` (10-500 characters) and optionally `minutes` (default 60, at most EMERGENCY_MAX_MINUTES, default 240). Returns { id, patientId, expiresAt }. Until then you read and write the record as the care team does (clinical fields only; no export); every read and write is audited with the reason, the patient sees it in audit.myAccess, and admins and the patient's assigned doctor are told (emergency.opened). CONFLICT if you already reach the patient (assigned, consent, or an open emergency access); at most EMERGENCY_MAX_OPEN (default 5) open at once (TOO_MANY_REQUESTS).",
    })
    .input(emergencyOpenInput)
    .mutation(({ ctx, input }) => openEmergencyAccess(ctx, input)),

  endEmergency: roleProcedure('doctor')
    .meta({
      description:
        'End your open emergency access to a patient before its time (doctor): { patientId } → { id, patientId, endedAt }. NOT_FOUND when you hold none open to that patient.',
    })
    .input(emergencyEndInput)
    .mutation(({ ctx, input }) => endEmergencyAccess(ctx, input)),
});
