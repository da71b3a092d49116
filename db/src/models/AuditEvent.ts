import {
  type CreationOptional,
  DataTypes,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';

/** What an audited call did to a record; `denied` is a refused attempt on a patient's record. */
export type AuditAction = 'read' | 'create' | 'update' | 'link' | 'revoke' | 'denied';

/**
 * One access to patient data or one administrative act. Append-only: the API has no way to
 * change or delete a row. `patientId` has no foreign key so the trail outlives anything it names.
 */
export class AuditEvent extends Model<InferAttributes<AuditEvent>, InferCreationAttributes<AuditEvent>> {
  declare id: CreationOptional<number>;
  declare actorType: string;
  declare actorId: number | null;
  declare actorName: string;
  declare actorRole: string;
  declare action: AuditAction;
  declare patientId: number | null;
  declare procedure: string;
  declare requestId: string;
  declare ip: string | null;
  /** What an administrative act was done to: `serviceToken`, `user`, `doctor`. */
  declare targetType: CreationOptional<string | null>;
  declare targetId: CreationOptional<number | null>;
  declare targetName: CreationOptional<string | null>;
  /** The emergency access a read or write was made under, if it was (its reason below). */
  declare emergencyAccessId: CreationOptional<number | null>;
  /** The reason of that emergency access, kept with the row. */
  declare reason: CreationOptional<string | null>;
  declare createdAt: CreationOptional<Date>;
}

/** Binds a fresh `AuditEvent` class to one Sequelize instance. */
export function initAuditEvent(sequelize: Sequelize): typeof AuditEvent {
  class AuditEventModel extends AuditEvent {}
  AuditEventModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      actorType: { type: DataTypes.STRING(16), allowNull: false },
      actorId: { type: DataTypes.INTEGER, allowNull: true },
      actorName: { type: DataTypes.STRING(120), allowNull: false },
      actorRole: { type: DataTypes.STRING(16), allowNull: false },
      action: { type: DataTypes.STRING(16), allowNull: false },
      patientId: { type: DataTypes.INTEGER, allowNull: true },
      procedure: { type: DataTypes.STRING(80), allowNull: false },
      requestId: { type: DataTypes.STRING(64), allowNull: false },
      ip: { type: DataTypes.STRING(64), allowNull: true },
      targetType: { type: DataTypes.STRING(32), allowNull: true },
      targetId: { type: DataTypes.INTEGER, allowNull: true },
      targetName: { type: DataTypes.STRING(120), allowNull: true },
      emergencyAccessId: { type: DataTypes.INTEGER, allowNull: true },
      reason: { type: DataTypes.STRING(500), allowNull: true },
      createdAt: DataTypes.DATE(3),
    },
    { sequelize, modelName: 'AuditEvent', tableName: 'audit_events', underscored: true, updatedAt: false },
  );
  return AuditEventModel;
}
