import type { Sequelize } from 'sequelize';
import { initAuditEvent } from './AuditEvent';
import { initCheckHistory } from './CheckHistory';
import { initDoctor } from './Doctor';
import { initLoginFailure } from './LoginFailure';
import { initNote } from './Note';
import { initPatient } from './Patient';
import { initPatientRevision } from './PatientRevision';
import { initServiceToken } from './ServiceToken';
import { initSession } from './Session';
import { initUser } from './User';

export { AuditEvent, type AuditAction } from './AuditEvent';
export { CheckHistory } from './CheckHistory';
export { Doctor } from './Doctor';
export { LoginFailure } from './LoginFailure';
export { Note } from './Note';
export { Patient } from './Patient';
export { PatientRevision, type FieldChanges } from './PatientRevision';
export { ServiceToken } from './ServiceToken';
export { Session } from './Session';
export { User, ROLES, type Role } from './User';

/** Every model, bound to one Sequelize instance, with the associations between them. */
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
  };
  const { User, Session, Doctor, Patient, CheckHistory, Note, PatientRevision } = models;
  Doctor.hasMany(Patient, { foreignKey: 'doctorId', as: 'patients' });
  Patient.belongsTo(Doctor, { foreignKey: 'doctorId', as: 'doctor' });
  Patient.hasMany(CheckHistory, { foreignKey: 'patientId', as: 'checks' });
  CheckHistory.belongsTo(Patient, { foreignKey: 'patientId', as: 'patient' });
  Patient.hasMany(Note, { foreignKey: 'patientId', as: 'notes' });
  Note.belongsTo(Patient, { foreignKey: 'patientId', as: 'patient' });
  Patient.hasMany(PatientRevision, { foreignKey: 'patientId', as: 'revisions' });
  PatientRevision.belongsTo(Patient, { foreignKey: 'patientId', as: 'patient' });
  User.hasMany(Session, { foreignKey: 'userId', as: 'sessions' });
  Session.belongsTo(User, { foreignKey: 'userId', as: 'user' });
  User.belongsTo(Doctor, { foreignKey: 'doctorId', as: 'doctor' });
  User.belongsTo(Patient, { foreignKey: 'patientId', as: 'patient' });
  return models;
}

/** The models of one database. */
export type Models = ReturnType<typeof initModels>;
