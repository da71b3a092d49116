import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * The fair, crash-proof job queue: `interruptions` counts the runs of a job cut by a crash (its
 * lease ran out) — they are not failed attempts, but a job that keeps killing its server is
 * stopped after `JOBS_MAX_INTERRUPTIONS` of them; `jobs_account_queue` finds the oldest queued
 * job of each account, for claiming interactive jobs round-robin by account.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.addColumn('jobs', 'interruptions', {
    type: DataTypes.INTEGER,
    allowNull: false,
    defaultValue: 0,
  });
  await qi.addIndex('jobs', ['status', 'created_by_type', 'created_by_id', 'id'], {
    name: 'jobs_account_queue',
  });
}

/** Drops the index and the column. */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.removeIndex('jobs', 'jobs_account_queue');
  await qi.removeColumn('jobs', 'interruptions');
}
