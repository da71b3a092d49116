import {
  type CreationOptional,
  DataTypes,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type NonAttribute,
  type Sequelize,
} from 'sequelize';
import type { User } from './User';

/**
 * A sign-in session. `id` is the SHA-256 hex digest of the session token: the token itself is
 * never stored. `createdAt` bounds the session's absolute lifetime.
 */
export class Session extends Model<InferAttributes<Session>, InferCreationAttributes<Session>> {
  declare id: string;
  declare userId: ForeignKey<User['id']>;
  declare expiresAt: Date;
  declare createdAt: CreationOptional<Date>;
  /** The account, when a query includes it (`include: 'user'`). */
  declare user?: NonAttribute<User>;
}

/** Binds a fresh `Session` class to one Sequelize instance. */
export function initSession(sequelize: Sequelize): typeof Session {
  class SessionModel extends Session {}
  SessionModel.init(
    {
      id: { type: DataTypes.STRING(64), primaryKey: true },
      userId: { type: DataTypes.INTEGER, allowNull: false },
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
      createdAt: DataTypes.DATE(3),
    },
    { sequelize, modelName: 'Session', tableName: 'sessions', underscored: true, updatedAt: false },
  );
  return SessionModel;
}
