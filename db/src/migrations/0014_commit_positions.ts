import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Read replicas' read-your-writes (README "Read replicas"): `commit_positions` holds, per owner, the
 * primary's replication position (MariaDB `@@gtid_binlog_pos`, MySQL `@@gtid_executed`) just after
 * that owner's last commit. `owner_id` is an account's user id, or 0 for the scope facts
 * (assignments: a read on a replica waits for the last change of any patient's doctor, so a
 * revoked assignment never lingers there). Read with the session on every request (a primary-key
 * join), written after a commit only while `DATABASE_READ_URLS` is set.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('commit_positions', {
    owner_id: { type: DataTypes.INTEGER, primaryKey: true, allowNull: false },
    position: { type: DataTypes.STRING(1024), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  });
}

/** Drops the table (reads wait for no position). */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('commit_positions');
}
