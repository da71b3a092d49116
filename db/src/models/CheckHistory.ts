import {
  type CreationOptional,
  DataTypes,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import type { Patient } from './Patient';

/** One check-up of a patient; `checkTime` defaults to the current UTC time. */
export class CheckHistory extends Model<
  InferAttributes<CheckHistory>,
  InferCreationAttributes<CheckHistory>
> {
  declare id: CreationOptional<number>;
  declare patientId: ForeignKey<Patient['id']>;
  declare checkTime: CreationOptional<Date>;
  /** The patient's assigned doctor when the check-up was recorded (null before HDMS recorded it). */
  declare doctorId: CreationOptional<number | null>;
  /** The patient's room when the check-up was recorded (null before HDMS recorded it). */
  declare roomNumber: CreationOptional<string | null>;
  declare createdAt: CreationOptional<Date>;
}

/** Binds a fresh `CheckHistory` class to one Sequelize instance. */
export function initCheckHistory(sequelize: Sequelize): typeof CheckHistory {
  class CheckHistoryModel extends CheckHistory {}
  CheckHistoryModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      patientId: { type: DataTypes.INTEGER, allowNull: false },
      checkTime: { type: DataTypes.DATE(3), allowNull: false, defaultValue: DataTypes.NOW },
      doctorId: { type: DataTypes.INTEGER, allowNull: true },
      roomNumber: { type: DataTypes.STRING(32), allowNull: true },
      createdAt: DataTypes.DATE(3),
    },
    {
      sequelize,
      modelName: 'CheckHistory',
      tableName: 'check_history',
      underscored: true,
      updatedAt: false,
    },
  );
  return CheckHistoryModel;
}
