import type { Sequelize } from 'sequelize';
import { initAuditEvent } from './AuditEvent';
import { initChangeEvents } from './ChangeEvent';
import { initCheckHistory } from './CheckHistory';
import { initConsentGrant } from './ConsentGrant';
import { initDoctor } from './Doctor';
import { initEmergencyAccess } from './EmergencyAccess';
import { initJob } from './Job';
import { initJobFile } from './JobFile';
import { initJobFileChunk } from './JobFileChunk';
import { initLoginFailure } from './LoginFailure';
import { initMfa } from './Mfa';
import { initNote } from './Note';
import { initPatient } from './Patient';
import { initPatientRevision } from './PatientRevision';
import { initServiceToken } from './ServiceToken';
import { initSession } from './Session';
import { initThrottleCounter } from './ThrottleCounter';
import { initUser } from './User';

export { AuditEvent, type AuditAction } from './AuditEvent';
export { ChangeEvent, ChangeEventLog } from './ChangeEvent';
export { CheckHistory } from './CheckHistory';
export { ConsentGrant } from './ConsentGrant';
export { Doctor } from './Doctor';
export { EmergencyAccess, EMERGENCY_REASON_LENGTH } from './EmergencyAccess';
export { Job, JOB_STATUSES, type JobStatus } from './Job';
export { JobFile, type JobFileKind } from './JobFile';
export { JobFileChunk } from './JobFileChunk';
export { LoginFailure } from './LoginFailure';
export { MfaChallenge, MfaFactor, MfaRecoveryCode } from './Mfa';
export { Note } from './Note';
export { Patient } from './Patient';
export { PatientRevision, type FieldChanges } from './PatientRevision';
export { ServiceToken } from './ServiceToken';
export { Session } from './Session';
export { ThrottleCounter, THROTTLE_KINDS, type ThrottleKind } from './ThrottleCounter';
export { User, ROLES, type Role } from './User';

/** Every model, bound to one Sequelize instance, with the associations queries use. */
export function initModels(sequelize: Sequelize) {
  const models = {
    User: initUser(sequelize),
    Session: initSession(sequelize),
    Doctor: initDoctor(sequelize),
    Patient: initPatient(sequelize),
    CheckHistory: initCheckHistory(sequelize),
    Note: initNote(sequelize),
    PatientRevision: initPatientRevision(sequelize),
    AuditEvent: initAuditEvent(sequelize),
    ServiceToken: initServiceToken(sequelize),
    LoginFailure: initLoginFailure(sequelize),
    ThrottleCounter: initThrottleCounter(sequelize),
    Job: initJob(sequelize),
    JobFile: initJobFile(sequelize),
    JobFileChunk: initJobFileChunk(sequelize),
    ConsentGrant: initConsentGrant(sequelize),
    EmergencyAccess: initEmergencyAccess(sequelize),
    ...initChangeEvents(sequelize),
    ...initMfa(sequelize),
  };
  // The session lookup reads its account in the same query.
  models.Session.belongsTo(models.User, { foreignKey: 'userId', as: 'user' });
  return models;
}

/** The models of one database. */
export type Models = ReturnType<typeof initModels>;
