import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * The sign-in and registration throttle's counters (`throttle_counters`): one row per account,
 * client address, or (account, address) pair, reserved under a row lock before a password is
 * verified. `login_failures` stays as it is; the throttle no longer writes to it.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('throttle_counters', {
    key: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    kind: { type: DataTypes.STRING(16), allowNull: false },
    user_id: { type: DataTypes.INTEGER, allowNull: true },
    address: { type: DataTypes.STRING(64), allowNull: true },
    count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    blocked_until: { type: DataTypes.DATE(3), allowNull: true },
    expires_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('throttle_counters', ['user_id'], { name: 'throttle_counters_user_id' });
  await qi.addIndex('throttle_counters', ['expires_at'], { name: 'throttle_counters_expires_at' });
}

/** Drops the counters: throttling starts again from zero. */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('throttle_counters');
}
