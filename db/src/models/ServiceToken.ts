import {
  type CreationOptional,
  DataTypes,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import { jsonText } from './json';
import type { User } from './User';

/** A named credential for an internal service. Only the SHA-256 of the token is stored. */
export class ServiceToken extends Model<
  InferAttributes<ServiceToken>,
  InferCreationAttributes<ServiceToken>
> {
  declare id: CreationOptional<number>;
  declare name: string;
  declare tokenHash: string;
  declare tokenPrefix: string;
  declare scopes: string[];
  declare expiresAt: Date;
  declare revokedAt: CreationOptional<Date | null>;
  declare lastUsedAt: CreationOptional<Date | null>;
  declare createdByUserId: ForeignKey<User['id']>;
  declare createdAt: CreationOptional<Date>;
}

/** Binds a fresh `ServiceToken` class to one Sequelize instance. */
export function initServiceToken(sequelize: Sequelize): typeof ServiceToken {
  class ServiceTokenModel extends ServiceToken {}
  ServiceTokenModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      name: { type: DataTypes.STRING(80), allowNull: false, unique: true },
      tokenHash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      tokenPrefix: { type: DataTypes.STRING(24), allowNull: false },
      scopes: jsonText('scopes'),
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
      revokedAt: { type: DataTypes.DATE(3), allowNull: true },
      lastUsedAt: { type: DataTypes.DATE(3), allowNull: true },
      createdByUserId: { type: DataTypes.INTEGER, allowNull: false },
      createdAt: DataTypes.DATE(3),
    },
    {
      sequelize,
      modelName: 'ServiceToken',
      tableName: 'service_tokens',
      underscored: true,
      updatedAt: false,
    },
  );
  return ServiceTokenModel;
}
