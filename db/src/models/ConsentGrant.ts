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

/**
 * A patient's consent that a doctor (a Doctor record) has the care team's rights over their
 * record, without becoming their assigned doctor: in force until `expiresAt` (null: until
 * revoked) or until `revokedAt`. Kept after it ends, as the record of what was granted.
 */
export class ConsentGrant extends Model<
  InferAttributes<ConsentGrant>,
  InferCreationAttributes<ConsentGrant>
> {
  declare id: CreationOptional<number>;
  declare patientId: ForeignKey<Patient['id']>;
  declare doctorId: ForeignKey<Doctor['id']>;
  /** When the grant ends by itself (the API's `until`); null: until revoked. */
  declare expiresAt: Date | null;
  declare revokedAt: CreationOptional<Date | null>;
  declare createdByUserId: ForeignKey<User['id']>;
  declare createdAt: CreationOptional<Date>;
}

/** Binds a fresh `ConsentGrant` class to one Sequelize instance. */
export function initConsentGrant(sequelize: Sequelize): typeof ConsentGrant {
  class ConsentGrantModel extends ConsentGrant {}
  ConsentGrantModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      patientId: { type: DataTypes.INTEGER, allowNull: false },
      doctorId: { type: DataTypes.INTEGER, allowNull: false },
      expiresAt: { type: DataTypes.DATE(3), allowNull: true },
      revokedAt: { type: DataTypes.DATE(3), allowNull: true },
      createdByUserId: { type: DataTypes.INTEGER, allowNull: false },
      createdAt: DataTypes.DATE(3),
    },
    {
      sequelize,
      modelName: 'ConsentGrant',
      tableName: 'consent_grants',
      underscored: true,
      updatedAt: false,
    },
  );
  return ConsentGrantModel;
}
