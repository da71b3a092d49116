import {
  type CreationOptional,
  DataTypes,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import type { Doctor } from './Doctor';
import type { Patient } from './Patient';
import type { User } from './User';

/** The longest reason of an emergency access, in characters (the column's size). */
export const EMERGENCY_REASON_LENGTH = 500;

/**
 * A doctor's emergency ("break-the-glass") access to a patient outside their care: opened with a
 * reason by the doctor's account, open until `expiresAt` or until ended early (`endedAt`). Kept
 * after it closes, as the record of what was opened and why.
 */
export class EmergencyAccess extends Model<
  InferAttributes<EmergencyAccess>,
  InferCreationAttributes<EmergencyAccess>
> {
  declare id: CreationOptional<number>;
  declare patientId: ForeignKey<Patient['id']>;
  declare doctorId: ForeignKey<Doctor['id']>;
  declare reason: string;
  declare createdByUserId: ForeignKey<User['id']>;
  declare createdAt: CreationOptional<Date>;
  declare expiresAt: Date;
  declare endedAt: CreationOptional<Date | null>;
}

/** Binds a fresh `EmergencyAccess` class to one Sequelize instance. */
export function initEmergencyAccess(sequelize: Sequelize): typeof EmergencyAccess {
  class EmergencyAccessModel extends EmergencyAccess {}
  EmergencyAccessModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      patientId: { type: DataTypes.INTEGER, allowNull: false },
      doctorId: { type: DataTypes.INTEGER, allowNull: false },
      reason: { type: DataTypes.STRING(EMERGENCY_REASON_LENGTH), allowNull: false },
      createdByUserId: { type: DataTypes.INTEGER, allowNull: false },
      createdAt: DataTypes.DATE(3),
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
      endedAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    {
      sequelize,
      modelName: 'EmergencyAccess',
      tableName: 'emergency_accesses',
      underscored: true,
      updatedAt: false,
    },
  );
  return EmergencyAccessModel;
}
