import { DataTypes, type QueryInterface } from 'sequelize';

const userFk = {
  type: DataTypes.INTEGER,
  allowNull: false,
  references: { model: 'users', key: 'id' },
  onUpdate: 'CASCADE',
  onDelete: 'CASCADE',
};

/**
 * Multi-factor sign-in (TOTP): an account's authenticator (`mfa_factors`: its secret, when it was
 * confirmed, the last time step a code was accepted for), its single-use recovery codes
 * (`mfa_recovery_codes`, SHA-256 digests only) and the sign-in challenges between the password and
 * the code (`mfa_challenges`, keyed by the SHA-256 of the challenge token, so that any instance
 * can finish a sign-in another began). New tables only: `users` is not altered.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('mfa_factors', {
    user_id: { ...userFk, primaryKey: true },
    secret: { type: DataTypes.STRING(64), allowNull: false },
    enabled_at: { type: DataTypes.DATE(3), allowNull: true },
    last_step: { type: DataTypes.INTEGER, allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  });

  await qi.createTable('mfa_recovery_codes', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true, allowNull: false },
    user_id: userFk,
    code_hash: { type: DataTypes.STRING(64), allowNull: false },
    used_at: { type: DataTypes.DATE(3), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('mfa_recovery_codes', ['user_id', 'code_hash'], {
    name: 'mfa_recovery_codes_user_code',
    unique: true,
  });

  await qi.createTable('mfa_challenges', {
    id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    user_id: userFk,
    expires_at: { type: DataTypes.DATE(3), allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('mfa_challenges', ['user_id'], { name: 'mfa_challenges_user_id' });
  await qi.addIndex('mfa_challenges', ['expires_at'], { name: 'mfa_challenges_expires_at' });
}

/** Drops the three tables: every account signs in with its password alone again. */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('mfa_challenges');
  await qi.dropTable('mfa_recovery_codes');
  await qi.dropTable('mfa_factors');
}
