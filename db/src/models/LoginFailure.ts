import {
  type CreationOptional,
  DataTypes,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';

/**
 * One failed sign-in, keyed by `user:<name>` or `ip:<address>`. Kept in the database so every
 * server instance on the same database throttles alike.
 */
export class LoginFailure extends Model<
  InferAttributes<LoginFailure>,
  InferCreationAttributes<LoginFailure>
> {
  declare id: CreationOptional<number>;
  declare key: string;
  declare createdAt: CreationOptional<Date>;
}

/** Binds a fresh `LoginFailure` class to one Sequelize instance. */
export function initLoginFailure(sequelize: Sequelize): typeof LoginFailure {
  class LoginFailureModel extends LoginFailure {}
  LoginFailureModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      key: { type: DataTypes.STRING(300), allowNull: false },
      createdAt: DataTypes.DATE(3),
    },
    {
      sequelize,
      modelName: 'LoginFailure',
      tableName: 'login_failures',
      underscored: true,
      updatedAt: false,
    },
  );
  return LoginFailureModel;
}
