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

/** The three roles of the contract. */
export const ROLES = ['admin', 'doctor', 'patient'] as const;
export type Role = (typeof ROLES)[number];

/** A sign-in account. `usernameKey` is the lower-cased username that enforces case-insensitive uniqueness. */
export class User extends Model<InferAttributes<User>, InferCreationAttributes<User>> {
  declare id: CreationOptional<number>;
  declare role: Role;
  declare username: string;
  declare usernameKey: string;
  declare email: string;
  declare passwordHash: string;
  declare doctorId: ForeignKey<Doctor['id']> | null;
  declare patientId: ForeignKey<Patient['id']> | null;
  declare disabledAt: CreationOptional<Date | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

/** Binds a fresh `User` class to one Sequelize instance. */
export function initUser(sequelize: Sequelize): typeof User {
  class UserModel extends User {}
  UserModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      role: { type: DataTypes.STRING(16), allowNull: false },
      username: { type: DataTypes.STRING(80), allowNull: false },
      usernameKey: { type: DataTypes.STRING(80), allowNull: false, unique: true },
      email: { type: DataTypes.STRING(254), allowNull: false, unique: true },
      passwordHash: { type: DataTypes.STRING(255), allowNull: false },
      doctorId: { type: DataTypes.INTEGER, allowNull: true },
      patientId: { type: DataTypes.INTEGER, allowNull: true },
      disabledAt: { type: DataTypes.DATE(3), allowNull: true },
      createdAt: DataTypes.DATE(3),
      updatedAt: DataTypes.DATE(3),
    },
    { sequelize, modelName: 'User', tableName: 'users', underscored: true },
  );
  return UserModel;
}
