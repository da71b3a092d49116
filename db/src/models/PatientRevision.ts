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
import { jsonText } from './json';
import type { Patient } from './Patient';

/** The old and new value of each field a change touched, keyed by camelCase field name. */
export type FieldChanges = Record<string, { old: unknown; new: unknown }>;

/** One change to a patient's record: who, when, and each field's old and new value. */
export class PatientRevision extends Model<
  InferAttributes<PatientRevision>,
  InferCreationAttributes<PatientRevision>
> {
  declare id: CreationOptional<number>;
  declare patientId: ForeignKey<Patient['id']>;
  declare actorType: string;
  declare actorId: number | null;
  declare actorName: string;
  declare changes: FieldChanges;
  declare createdAt: CreationOptional<Date>;
}

/** Binds a fresh `PatientRevision` class to one Sequelize instance. */
export function initPatientRevision(sequelize: Sequelize): typeof PatientRevision {
  class PatientRevisionModel extends PatientRevision {}
  PatientRevisionModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      patientId: { type: DataTypes.INTEGER, allowNull: false },
      actorType: { type: DataTypes.STRING(16), allowNull: false },
      actorId: { type: DataTypes.INTEGER, allowNull: true },
      actorName: { type: DataTypes.STRING(120), allowNull: false },
      changes: jsonText('changes', false, largeText(sequelize, 'medium')),
      createdAt: DataTypes.DATE(3),
    },
    {
      sequelize,
      modelName: 'PatientRevision',
      tableName: 'patient_revisions',
      underscored: true,
      updatedAt: false,
    },
  );
  return PatientRevisionModel;
}
