import { type Database, patientsRepo } from '@hdms/db';

/**
 * Versions of patients' records, from their revision history: version 1 as admitted, one more
 * per revision. What FHIR's `meta.versionId` and weak ETag carry, and when the age (which HDMS
 * keeps instead of a birth date) was recorded.
 */

/** A patient record's version, when it was last changed and when its age got its current value. */
export interface PatientVersion {
  /** `1` as admitted, `n + 1` after n revisions. */
  versionId: string;
  lastUpdated: Date;
  /** The revision that last changed `age`, else the admission. */
  ageRecordedAt: Date;
}

/**
 * The versions of patients already read in the caller's scope (one query of their revisions'
 * times and changed field names, never their values).
 */
export async function patientVersions(
  db: Database,
  patients: readonly { id: number; createdAt: Date; updatedAt: Date }[],
): Promise<Map<number, PatientVersion>> {
  const versions = new Map<number, PatientVersion>(
    patients.map((p) => [p.id, { versionId: '1', lastUpdated: p.updatedAt, ageRecordedAt: p.createdAt }]),
  );
  const revisions = await patientsRepo.revisionFieldsOf(
    db,
    patients.map((p) => p.id),
  );
  for (const revision of revisions) {
    const version = versions.get(revision.patientId);
    if (!version) continue;
    version.versionId = String(Number(version.versionId) + 1);
    if (revision.fields.includes('age')) version.ageRecordedAt = revision.createdAt;
  }
  return versions;
}
