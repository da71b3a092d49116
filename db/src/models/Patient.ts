import {
  type CreationOptional,
  DataTypes,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import { largeText } from './text';
import type { Doctor } from './Doctor';

/**
 * A patient's record. Admission fields (name, age, gender, doctor, room, bed) belong to admins;
 * clinical fields (diagnosis, prescribed medicine) only to the patient's doctor.
 */
export class Patient extends Model<InferAttributes<Patient>, InferCreationAttributes<Patient>> {
  declare id: CreationOptional<number>;
  declare name: string;
  declare age: number;
  declare gender: string;
  declare doctorId: ForeignKey<Doctor['id']> | null;
  declare roomNumber: CreationOptional<string | null>;
  declare bedNumber: CreationOptional<string | null>;
  declare diagnosis: CreationOptional<string | null>;
  declare prescribedMedicine: CreationOptional<string | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

/** Binds a fresh `Patient` class to one Sequelize instance. */
export function initPatient(sequelize: Sequelize): typeof Patient {
  class PatientModel extends Patient {}
  PatientModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      name: { type: DataTypes.STRING(200), allowNull: false },
      age: { type: DataTypes.INTEGER, allowNull: false },
      gender: { type: DataTypes.STRING(32), allowNull: false },
      doctorId: { type: DataTypes.INTEGER, allowNull: true },
      roomNumber: { type: DataTypes.STRING(32), allowNull: true },
      bedNumber: { type: DataTypes.STRING(32), allowNull: true },
      diagnosis: { type: largeText(sequelize, 'medium'), allowNull: true },
      prescribedMedicine: { type: largeText(sequelize, 'medium'), allowNull: true },
      createdAt: DataTypes.DATE(3),
      updatedAt: DataTypes.DATE(3),
    },
    { sequelize, modelName: 'Patient', tableName: 'patients', underscored: true },
  );
  return PatientModel;
}
