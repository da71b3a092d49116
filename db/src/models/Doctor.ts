import {
  type CreationOptional,
  DataTypes,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';

/** A doctor of the clinic's register. */
export class Doctor extends Model<InferAttributes<Doctor>, InferCreationAttributes<Doctor>> {
  declare id: CreationOptional<number>;
  declare name: string;
  declare specialization: string;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

/** Binds a fresh `Doctor` class to one Sequelize instance. */
export function initDoctor(sequelize: Sequelize): typeof Doctor {
  class DoctorModel extends Doctor {}
  DoctorModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      name: { type: DataTypes.STRING(200), allowNull: false },
      specialization: { type: DataTypes.STRING(200), allowNull: false },
      createdAt: DataTypes.DATE(3),
      updatedAt: DataTypes.DATE(3),
    },
    { sequelize, modelName: 'Doctor', tableName: 'doctors', underscored: true },
  );
  return DoctorModel;
}
