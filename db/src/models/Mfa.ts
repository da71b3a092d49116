import {
  type CreationOptional,
  DataTypes,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import type { User } from './User';

/**
 * An account's TOTP authenticator. `enabledAt` null: enrolled but not yet confirmed with a code
 * (it does not count). `lastStep` is the last 30-second time step a code was accepted for: a code
 * of that step or an earlier one is refused, so each code signs in once.
 */
export class MfaFactor extends Model<InferAttributes<MfaFactor>, InferCreationAttributes<MfaFactor>> {
  declare userId: ForeignKey<User['id']>;
  /** The shared secret, base32 (RFC 4648), as authenticator apps take it. */
  declare secret: string;
  declare enabledAt: CreationOptional<Date | null>;
  declare lastStep: CreationOptional<number | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

/** One single-use recovery code of an account: only its SHA-256 is stored. */
export class MfaRecoveryCode extends Model<
  InferAttributes<MfaRecoveryCode>,
  InferCreationAttributes<MfaRecoveryCode>
> {
  declare id: CreationOptional<number>;
  declare userId: ForeignKey<User['id']>;
  declare codeHash: string;
  declare usedAt: CreationOptional<Date | null>;
  declare createdAt: CreationOptional<Date>;
}

/**
 * A sign-in waiting for its second factor: the password was right. `id` is the SHA-256 of the
 * challenge token the client holds; the token itself is never stored.
 */
export class MfaChallenge extends Model<
  InferAttributes<MfaChallenge>,
  InferCreationAttributes<MfaChallenge>
> {
  declare id: string;
  declare userId: ForeignKey<User['id']>;
  declare expiresAt: Date;
  declare createdAt: CreationOptional<Date>;
}

/** Binds fresh MFA classes to one Sequelize instance. */
export function initMfa(sequelize: Sequelize) {
  class MfaFactorModel extends MfaFactor {}
  MfaFactorModel.init(
    {
      userId: { type: DataTypes.INTEGER, primaryKey: true },
      secret: { type: DataTypes.STRING(64), allowNull: false },
      enabledAt: { type: DataTypes.DATE(3), allowNull: true },
      lastStep: { type: DataTypes.INTEGER, allowNull: true },
      createdAt: DataTypes.DATE(3),
      updatedAt: DataTypes.DATE(3),
    },
    { sequelize, modelName: 'MfaFactor', tableName: 'mfa_factors', underscored: true },
  );

  class MfaRecoveryCodeModel extends MfaRecoveryCode {}
  MfaRecoveryCodeModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      userId: { type: DataTypes.INTEGER, allowNull: false },
      codeHash: { type: DataTypes.STRING(64), allowNull: false },
      usedAt: { type: DataTypes.DATE(3), allowNull: true },
      createdAt: DataTypes.DATE(3),
    },
    {
      sequelize,
      modelName: 'MfaRecoveryCode',
      tableName: 'mfa_recovery_codes',
      underscored: true,
      updatedAt: false,
    },
  );

  class MfaChallengeModel extends MfaChallenge {}
  MfaChallengeModel.init(
    {
      id: { type: DataTypes.STRING(64), primaryKey: true },
      userId: { type: DataTypes.INTEGER, allowNull: false },
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
      createdAt: DataTypes.DATE(3),
    },
    {
      sequelize,
      modelName: 'MfaChallenge',
      tableName: 'mfa_challenges',
      underscored: true,
      updatedAt: false,
    },
  );

  return {
    MfaFactor: MfaFactorModel as typeof MfaFactor,
    MfaRecoveryCode: MfaRecoveryCodeModel as typeof MfaRecoveryCode,
    MfaChallenge: MfaChallengeModel as typeof MfaChallenge,
  };
}
