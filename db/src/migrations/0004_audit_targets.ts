import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Audit rows name what an administrative act was done to (a service token, an account, a doctor):
 * `target_type`, `target_id` and, for readers, `target_name`.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.addColumn('audit_events', 'target_type', { type: DataTypes.STRING(32), allowNull: true });
  await qi.addColumn('audit_events', 'target_id', { type: DataTypes.INTEGER, allowNull: true });
  await qi.addColumn('audit_events', 'target_name', { type: DataTypes.STRING(120), allowNull: true });
  await qi.addIndex('audit_events', ['target_type', 'target_id', 'id'], { name: 'audit_events_target' });
}

/** Drops the target columns. */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.removeIndex('audit_events', 'audit_events_target');
  await qi.removeColumn('audit_events', 'target_name');
  await qi.removeColumn('audit_events', 'target_id');
  await qi.removeColumn('audit_events', 'target_type');
}
